//! The account's whole life, for its owner:
//!
//! - `POST /auth/user/email` (password re-checked): a link to the new address, a notice to the
//!   old one; nothing changes until `POST /auth/email/change` with the link's token, which makes
//!   the new address the account's, verified (409 when another account took it meanwhile);
//! - `DELETE /auth/user` (password, and the second factor when one is on): the account is
//!   erased, as an operator erases it ([`erase`]), and a last notice goes to its address;
//! - `GET /auth/user/export`: everything kept about the person, as one JSON download.

use super::account::current_user;
use super::recovery::{limit, link_base};
use super::signin::password::recheck;
use super::signin::second_step::accept_code;
use super::signin::{Attempt, Check, Subject, gates};
use super::{Ctx, sessions, views};
use crate::auth::{authenticate, session_cookie};
use crate::envelope::{self, ApiError, FieldError};
use crate::http::Response;
use crate::mail;
use crate::token::MailToken;
use crate::totp;
use crate::validation::{self, Email, Factor};
use asm_contract::{EventFilter, EventType, User, UserProfile};
use serde_json::{Value, json};

/// `POST /auth/user/email`.
pub async fn request_email_change(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let (new_email, password) = validation::email_change(cx.body()?)?;
    let user = current_user(cx, &caller).await?;
    if new_email.as_str() == user.email {
        return Err(ApiError::Validation(vec![FieldError::new("new_email", "is the account's email already")]));
    }
    recheck(cx, &user, &password, "password").await?;
    // Whoever knows the password may learn that the address has an account; a stranger may not.
    if cx.host.users.find_user_by_email(new_email.as_str().to_string()).await?.is_some() {
        return Err(ApiError::Conflict { field: "new_email".into() });
    }
    let subject = Subject::account(cx, user.clone())?;
    limit(cx, "email-change", &subject).await?;
    let base = link_base(cx)?;
    let (s, host) = (cx.settings, cx.host);
    let token = MailToken::generate(host.system);
    let expires_at = host.system.now_ms() + s.verification_token_lifetime.as_millis() as i64;
    let new = new_email.as_str().to_string();
    if !host.users.begin_email_change(caller.user_id, new.clone(), token.hash(), expires_at).await? {
        return Err(ApiError::Unauthorized);
    }
    let link = format!("{base}/account/email?token={}", token.link_value());
    host.mailer.send(mail::email_change(&s.service_name, &new, &link, s.verification_token_lifetime)).await?;
    cx.notify(mail::email_change_asked(&s.service_name, &user.email, &new)).await;
    Ok(envelope::success(
        202,
        "Confirm the change with the link mailed to the new address",
        json!({ "email": user.email, "new_email": new }),
    ))
}

/// `POST /auth/email/change`: the token of the link mailed to the new address.
pub async fn confirm_email_change(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    crate::csrf::check(cx.req, cx.settings)?;
    let token = validation::token_only(cx.body()?)?;
    let (host, hash) = (cx.host, token.hash());
    let confirm = |apply: bool| {
        let hash = hash.clone();
        async move {
            match host.users.confirm_email_change(hash, host.system.now_ms(), apply).await {
                Ok(Some(changed)) => Ok(changed),
                Ok(None) => Err(ApiError::InvalidToken),
                Err(asm_contract::StoreError::Conflict(_)) => Err(ApiError::Conflict { field: "email".into() }),
                Err(e) => Err(e.into()),
            }
        }
    };
    // What the change will be, for its event; then the change.
    let ahead = confirm(false).await?;
    let data = json!({ "previous_email": ahead.previous_email, "email": ahead.user.email, "by": "owner" });
    let changed = cx.recorded(EventType::UserEmailChanged, &ahead.user.id, data, confirm(true)).await?;
    let user = &changed.user;
    // Session checks read the profile kept beside the sessions. The email has changed by now,
    // so a session store that fails here costs only a stale email in session checks.
    if let Err(e) = host.sessions.put_user_profile(UserProfile::from(user)).await {
        eprintln!("email change: the session store kept the old profile: {e:?}");
    }
    cx.notify(mail::email_changed(&cx.settings.service_name, &changed.previous_email, &user.email)).await;
    Ok(envelope::success(200, "Email changed", json!({ "email": user.email, "email_verified": true })))
}

/// `DELETE /auth/user`: the password, and a code or recovery code when a second factor is on.
pub async fn delete(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let (password, factor) = validation::deletion(cx.body()?)?;
    let user = current_user(cx, &caller).await?;
    if user.totp_enabled && factor.is_none() {
        let needed = FieldError::new("code", "is required: give code or recovery_code (two-step verification is on)");
        return Err(ApiError::Validation(vec![needed]));
    }
    recheck(cx, &user, &password, "password").await?;
    if user.totp_enabled
        && let Some(factor) = &factor
    {
        let field = match factor {
            Factor::Code(_) => "code",
            Factor::RecoveryCode(_) => "recovery_code",
        };
        let attempt = Attempt::begin(cx, Subject::account(cx, user.clone())?, Check::SecondFactorAgain(field)).await?;
        let verdict = match factor {
            Factor::Code(code) => accept_code(cx.host, &user, code).await,
            Factor::RecoveryCode(code) if totp::could_be_recovery_code(code) => {
                cx.host.users.use_recovery_code(user.user_id(), totp::recovery_hash(code)).await.map_err(ApiError::from)
            }
            Factor::RecoveryCode(_) => Ok(false),
        };
        attempt.end(verdict).await?.confirm().await?;
    }
    erase(cx, &user, false).await?;
    Ok(envelope::success(200, "Account deleted", json!({ "deleted": true }))
        .with_header("set-cookie", session_cookie(cx.settings, "", 0)))
}

/// Erases an account: the one way one is deleted, by its owner or by an operator. First there is
/// no way in (disabled, with a credential version the session store learns, so a sign-in in
/// flight leaves no session), then every session and profile go, then the account and
/// everything the user store keeps about it, then the counters keyed by it; last, a notice to
/// its address. Each step can be run again: a store that fails midway leaves the account
/// disabled, and the request's 503 says to try again.
pub(super) async fn erase(cx: &Ctx<'_>, user: &User, by_operator: bool) -> Result<(), ApiError> {
    let host = cx.host;
    let id = user.user_id();
    let data = json!({ "by": if by_operator { "operator" } else { "owner" } });
    let disable = async { Ok(host.users.set_disabled(id.clone(), true).await?) };
    if let Some(version) = cx.recorded(EventType::UserDeleted, &user.id, data, disable).await? {
        host.sessions.set_credential_version(id.clone(), version).await?;
    }
    host.sessions.erase_user(id.clone()).await?;
    host.users.delete_user(id).await?;
    let email = Email::of_account(&user.email)?;
    for key in [gates::account_key(&email, None), gates::second_factor_key(&user.id)] {
        host.sessions.forget_attempts(key).await?;
    }
    cx.notify(mail::account_deleted(&cx.settings.service_name, &user.email, by_operator)).await;
    Ok(())
}

/// The most login-history entries an export reads per page.
const EXPORT_PAGE: u32 = 100;

/// `GET /auth/user/export`: the account, its sessions, its whole login history and its events.
pub async fn export(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let user = current_user(cx, &caller).await?;
    let live = sessions::live_sessions(cx, &caller.user_id).await?;
    let current = caller.token_hash.as_str();
    let sessions: Vec<Value> = live.iter().map(|s| views::session(s, s.token_hash == current)).collect();
    let mut logins = Vec::new();
    loop {
        let page = cx.host.users.list_login_attempts(caller.user_id.clone(), logins.len() as u32, EXPORT_PAGE).await?;
        let got = page.attempts.len();
        logins.extend(page.attempts.iter().map(views::login_attempt));
        if got < EXPORT_PAGE as usize || logins.len() as u64 >= page.total {
            break;
        }
    }
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let filter = EventFilter { user_id: Some(user.id.clone()), event_type: None };
        let page = cx.host.events.list_events(filter, EXPORT_PAGE, cursor).await?;
        events.extend(page.events.iter().map(asm_contract::event_json::view));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let data = json!({
        "exported_at": views::rfc3339(cx.host.system.now_ms()),
        "account": views::account(&user, None),
        "sessions": sessions,
        "logins": logins,
        "events": events,
    });
    let filename = format!("asm-account-{}.json", user.id);
    Ok(envelope::success(200, "Everything kept about you", data)
        .with_header("content-disposition", format!("attachment; filename=\"{filename}\"")))
}
