//! `POST /auth/login/mfa`: the second step of a sign-in to an account with a second factor. The
//! first step (the password) answered with an `mfa_token`; this one takes it with a TOTP code or
//! a recovery code. Wrong codes count on the client address, on the account's password counter
//! (the email's, or the device's) and on the account's one second-factor counter, which no number
//! of device cookies multiplies, and on the token's own limit of 5. Each TOTP step is accepted
//! once per user, in the store (no replay); each recovery code works once.

use super::{Attempt, Check, Method, Subject};
use crate::csrf;
use crate::envelope::ApiError;
use crate::host::Host;
use crate::http::Response;
use crate::mail::{self, FactorChange};
use crate::routes::Ctx;
use crate::totp;
use crate::validation::{self, Factor};
use asm_contract::{TokenPurpose, User};

pub async fn login(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    csrf::check(cx.req, cx.settings)?;
    let (token, factor) = validation::mfa_login(cx.body()?)?;
    let host = cx.host;
    let hash = token.hash();
    let user = host
        .users
        .redeem_token(TokenPurpose::MfaLogin, hash.clone(), host.system.now_ms(), false)
        .await?
        .filter(|u| u.totp_enabled)
        .ok_or(ApiError::MfaFailed)?;
    let attempt =
        Attempt::begin(cx, Subject::account(cx, user.clone())?, Check::SecondStep { token_hash: &hash }).await?;
    let verdict = match &factor {
        Factor::Code(code) => accept_code(host, &user, code).await,
        Factor::RecoveryCode(code) if totp::could_be_recovery_code(code) => {
            host.users.use_recovery_code(user.user_id(), totp::recovery_hash(code)).await.map_err(ApiError::from)
        }
        Factor::RecoveryCode(_) => Ok(false),
    };
    let passed = attempt.end(verdict).await?;
    // Single use: of parallel second steps with one token, one goes on.
    if host.users.redeem_token(TokenPurpose::MfaLogin, hash, host.system.now_ms(), true).await?.is_none() {
        return Err(ApiError::MfaFailed);
    }
    let method = match factor {
        Factor::Code(_) => Method::Totp,
        Factor::RecoveryCode(_) => Method::RecoveryCode,
    };
    let signed_in = super::complete(cx, passed, method).await?;
    // Told once the session exists: a sign-in that failed after the code was used sends nothing.
    if method == Method::RecoveryCode {
        cx.notify(mail::second_factor_changed(&cx.settings.service_name, &user.email, FactorChange::RecoveryCodeUsed))
            .await;
    }
    Ok(signed_in)
}

/// Whether `code` is the user's TOTP code for a step that has not been accepted before (now
/// accepted, in the store, so it cannot be used again).
pub async fn accept_code(host: &Host<'_>, user: &User, code: &str) -> Result<bool, ApiError> {
    let sealed = user.totp_secret.as_deref().ok_or(ApiError::MfaFailed)?;
    // Sealed under a key the host no longer has: a misconfiguration, named (the user can still
    // sign in with a recovery code, which is hashed, not sealed).
    let secret = host
        .keyring
        .open(&totp::seal_purpose(&user.id), sealed)
        .ok_or(ApiError::NotConfigured("ASM_PREVIOUS_SECRET_KEYS"))?;
    match totp::matching_step(&secret, code, host.system.now_ms()) {
        Some(step) => Ok(host.users.accept_totp_step(user.user_id(), step).await?),
        None => Ok(false),
    }
}
