//! The second factor's settings: TOTP with recovery codes (the sign-in's second step is
//! `signin::second_step`).
//!
//! - `POST /auth/user/totp` (password re-checked): a new secret, pending until confirmed, with
//!   its `otpauth://` URI and QR code. The store keeps it sealed by the host's keyring.
//! - `POST /auth/user/totp/confirm`: a current code turns TOTP on; 10 recovery codes are shown
//!   once and kept as hashes. Wrong codes count on the account's second-factor counter, as at a
//!   sign-in's second step, so a stolen session cannot try them all.
//! - `DELETE /auth/user/totp`, `POST /auth/user/recovery-codes` (password re-checked).
//! - The account's mailbox hears of each change (on, off, new recovery codes).

use super::Ctx;
use super::account::current_user;
use super::signin::password::recheck;
use super::signin::second_step::accept_code;
use super::signin::{Attempt, Check, Subject};
use crate::auth::authenticate;
use crate::envelope::{self, ApiError};
use crate::http::Response;
use crate::mail::{self, FactorChange};
use crate::totp;
use crate::validation;
use asm_contract::{EventType, User, UserProfile};
use serde_json::json;

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
    let attempt = Attempt::begin(cx, Subject::account(cx, user.clone())?, Check::Enrolment).await?;
    let verdict = accept_code(cx.host, &user, &code).await;
    attempt.end(verdict).await?.confirm().await?;
    let (codes, hashes) = totp::recovery_codes(cx.host.system);
    let turn_on = async {
        match cx.host.users.enable_totp(caller.user_id.clone(), hashes).await? {
            true => Ok(()),
            false => Err(ApiError::StateConflict("TOTP is already on")),
        }
    };
    cx.recorded(EventType::MfaEnabled, &user.id, json!({ "factor": "totp" }), turn_on).await?;
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
    let turn_off = async { Ok(cx.host.users.disable_totp(caller.user_id.clone()).await?) };
    if user.totp_enabled {
        cx.recorded(EventType::MfaDisabled, &user.id, json!({ "factor": "totp", "by": "owner" }), turn_off).await?;
    } else {
        turn_off.await?;
    }
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

/// Tells the account's mailbox of a change to its second factor (see [`Ctx::notify`]).
async fn notify(cx: &Ctx<'_>, user: &User, change: FactorChange) {
    cx.notify(mail::second_factor_changed(&cx.settings.service_name, &user.email, change)).await;
}
