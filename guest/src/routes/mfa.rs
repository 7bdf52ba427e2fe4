//! The second factor: TOTP with recovery codes.
//!
//! - `POST /auth/user/totp` (password re-checked): a new secret, pending until confirmed, with
//!   its `otpauth://` URI and QR code. The store keeps it sealed by the host's keyring.
//! - `POST /auth/user/totp/confirm`: a current code turns TOTP on; 10 recovery codes are shown
//!   once and kept as hashes.
//! - `DELETE /auth/user/totp`, `POST /auth/user/recovery-codes` (password re-checked).
//! - At login, the right password of an account with TOTP on gets an `mfa_token` (single use, 5
//!   minutes) instead of a session; `POST /auth/login/mfa` with a code or a recovery code then
//!   finishes the login. Wrong codes count toward the email's lock-out and toward the token's
//!   own limit of 5; each TOTP step is accepted once per user, in the store (no replay).
//! - The account's mailbox hears of each change (on, off, new recovery codes) and of each
//!   sign-in with a recovery code.

use super::Ctx;
use super::account::current_user;
use super::login::{finish_login, record};
use super::password::recheck;
use crate::auth::authenticate;
use crate::client::Client;
use crate::csrf;
use crate::envelope::{self, ApiError};
use crate::host::Host;
use crate::http::Response;
use crate::lockout::{self, Gate};
use crate::mail::{self, FactorChange};
use crate::token::MailToken;
use crate::totp;
use crate::validation::{self, Email, Factor};
use asm_contract::{LoginOutcome, TokenPurpose, User, UserId, UserProfile};
use serde_json::json;
use std::time::Duration;

/// How long an `mfa_token` lives.
pub const MFA_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Wrong codes one `mfa_token` allows.
pub const MFA_TOKEN_TRIES: u32 = 5;

pub async fn enroll(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let password = validation::one_string(cx.body()?, "password")?;
    let user = current_user(cx, &caller).await?;
    if user.totp_enabled {
        return Err(ApiError::StateConflict("TOTP is already on; turn it off first"));
    }
    recheck(cx, &user, &password, "password").await?;
    let host = cx.host;
    let secret = totp::new_secret(host.system);
    let sealed = host.keyring.seal(&totp::seal_purpose(&user.id), &secret);
    if !host.users.begin_totp(caller.user_id, sealed).await? {
        return Err(ApiError::StateConflict("TOTP is already on; turn it off first"));
    }
    let uri = totp::otpauth_uri(&cx.settings.totp_issuer, &user.email, &secret);
    let qr_svg = totp::qr_svg(&uri).map_err(ApiError::Internal)?;
    Ok(envelope::success(
        200,
        "TOTP enrolment pending: confirm with a code",
        json!({ "secret": totp::base32(&secret), "otpauth_uri": uri, "qr_svg": qr_svg }),
    ))
}

pub async fn confirm(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let code = validation::one_string(cx.body()?, "code")?;
    let user = current_user(cx, &caller).await?;
    if user.totp_enabled {
        return Err(ApiError::StateConflict("TOTP is already on"));
    }
    if user.totp_secret.is_none() {
        return Err(ApiError::StateConflict("no TOTP enrolment is pending: start one first"));
    }
    if !accept_code(cx.host, &user, &code).await? {
        return Err(ApiError::WrongCode);
    }
    let (codes, hashes) = totp::recovery_codes(cx.host.system);
    if !cx.host.users.enable_totp(caller.user_id, hashes).await? {
        return Err(ApiError::StateConflict("TOTP is already on"));
    }
    let profile = UserProfile { mfa_enabled: true, ..UserProfile::from(&user) };
    cx.host.sessions.put_user_profile(profile).await?;
    notify(cx, &user, FactorChange::TotpOn).await;
    Ok(envelope::success(200, "TOTP is on; keep the recovery codes somewhere safe", json!({ "recovery_codes": codes })))
}

pub async fn disable(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let password = validation::one_string(cx.body()?, "password")?;
    let user = current_user(cx, &caller).await?;
    recheck(cx, &user, &password, "password").await?;
    cx.host.users.disable_totp(caller.user_id).await?;
    let profile = UserProfile { mfa_enabled: false, ..UserProfile::from(&user) };
    cx.host.sessions.put_user_profile(profile).await?;
    if user.totp_enabled {
        notify(cx, &user, FactorChange::TotpOff).await;
    }
    Ok(envelope::success(200, "TOTP is off", json!({ "mfa_enabled": false })))
}

pub async fn new_recovery_codes(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let password = validation::one_string(cx.body()?, "password")?;
    let user = current_user(cx, &caller).await?;
    if !user.totp_enabled {
        return Err(ApiError::StateConflict("TOTP is off"));
    }
    recheck(cx, &user, &password, "password").await?;
    let (codes, hashes) = totp::recovery_codes(cx.host.system);
    if !cx.host.users.replace_recovery_codes(caller.user_id, hashes).await? {
        return Err(ApiError::StateConflict("TOTP is off"));
    }
    notify(cx, &user, FactorChange::NewRecoveryCodes).await;
    Ok(envelope::success(200, "New recovery codes; the old ones no longer work", json!({ "recovery_codes": codes })))
}

/// The answer to the right password of an account with TOTP on: an `mfa_token`, no session.
pub async fn challenge(cx: &Ctx<'_>, user: &User) -> Result<Response, ApiError> {
    let host = cx.host;
    let token = MailToken::generate(host.system);
    let expires_at = host.system.now_ms() + MFA_TOKEN_LIFETIME.as_millis() as i64;
    // One pending second step per account: a newer login's token replaces an older one.
    host.users.issue_token(user.email.clone(), TokenPurpose::MfaLogin, token.hash(), expires_at).await?;
    Ok(envelope::success(
        200,
        "Second factor required",
        json!({ "mfa_required": true, "mfa_token": token.link_value(), "methods": ["totp", "recovery_code"] }),
    ))
}

/// `POST /auth/login/mfa`.
pub async fn login(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    csrf::check(cx.req, cx.settings)?;
    let (token, factor) = validation::mfa_login(cx.body()?)?;
    let (s, host) = (cx.settings, cx.host);
    let client = Client::of(cx.req, s, host.geo);
    let hash = token.hash();
    let now = host.system.now_ms();
    let user = host
        .users
        .redeem_token(TokenPurpose::MfaLogin, hash.clone(), now, false)
        .await?
        .filter(|u| u.totp_enabled)
        .ok_or(ApiError::MfaFailed)?;
    let email = Email::of_account(&user.email)?;
    let device = lockout::trusted_device(cx.req, s, host.keyring, &email);
    let mut gates = lockout::gates(s, &client, &email, device.as_deref());
    gates.push(Gate { key: format!("mfa:token:{hash}"), limit: MFA_TOKEN_TRIES, window: MFA_TOKEN_LIFETIME });
    let admitted = lockout::admit(host, &gates).await?;
    let passed = match &factor {
        Factor::Code(code) => accept_code(host, &user, code).await,
        Factor::RecoveryCode(code) if totp::could_be_recovery_code(code) => {
            let used = host.users.use_recovery_code(UserId::from(user.id.clone()), totp::recovery_hash(code)).await;
            used.map_err(ApiError::from)
        }
        Factor::RecoveryCode(_) => Ok(false),
    };
    lockout::finish(host, admitted, !matches!(passed, Ok(true))).await?;
    if !passed? {
        record(cx, &client, &email, LoginOutcome::MfaFailed).await?;
        return Err(ApiError::MfaFailed);
    }
    // Single use: of parallel second steps with one token, one goes on.
    if host.users.redeem_token(TokenPurpose::MfaLogin, hash, host.system.now_ms(), true).await?.is_none() {
        return Err(ApiError::MfaFailed);
    }
    host.sessions.reset_attempts(lockout::account_key(&email, device.as_deref())).await?;
    let outcome = match factor {
        Factor::Code(_) => LoginOutcome::Success,
        Factor::RecoveryCode(_) => LoginOutcome::RecoveryCode,
    };
    let signed_in = finish_login(cx, &client, &user, &email, true, outcome).await?;
    // Told once the session exists: a login that failed after the code was used sends nothing.
    if outcome == LoginOutcome::RecoveryCode {
        notify(cx, &user, FactorChange::RecoveryCodeUsed).await;
    }
    Ok(signed_in)
}

/// Tells the account's mailbox of a change to its second factor (see [`Ctx::notify`]).
async fn notify(cx: &Ctx<'_>, user: &User, change: FactorChange) {
    cx.notify(mail::second_factor_changed(&cx.settings.service_name, &user.email, change)).await;
}

/// Whether `code` is the user's TOTP code for a step that has not been accepted before (now
/// accepted, in the store, so it cannot be used again).
async fn accept_code(host: &Host<'_>, user: &User, code: &str) -> Result<bool, ApiError> {
    let sealed = user.totp_secret.as_deref().ok_or(ApiError::MfaFailed)?;
    // Sealed under a key the host no longer has: a misconfiguration, named (the user can still
    // log in with a recovery code, which is hashed, not sealed).
    let secret = host
        .keyring
        .open(&totp::seal_purpose(&user.id), sealed)
        .ok_or(ApiError::NotConfigured("ASM_PREVIOUS_SECRET_KEYS"))?;
    match totp::matching_step(&secret, code, host.system.now_ms()) {
        Some(step) => Ok(host.users.accept_totp_step(UserId::from(user.id.clone()), step).await?),
        None => Ok(false),
    }
}
