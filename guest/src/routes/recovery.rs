//! Account recovery and email verification: mailed, single-use tokens.
//!
//! - `POST /auth/password/forgot`: 202 with the same body, after the same store work, whether or
//!   not the email has an account; the account gets a reset link, an address without one a note
//!   saying so. Limited per client address, per email from each address, and per mailbox in all,
//!   except for a browser that has signed in to the account (its device cookie): that one is
//!   counted on its own, so a stranger flooding the address cannot take recovery from its owner.
//! - `POST /auth/password/reset`: a valid reset token sets the new password, ends every session
//!   of the account (through the credential version, so logins in flight with the old password
//!   leave none behind), voids other reset tokens, device cookies and the email's lock-out count;
//!   the mailbox is told the password changed, and this browser gets a new device cookie.
//! - `POST /auth/email/verify`: a valid verification token marks the email verified.
//! - `POST /auth/email/verify/resend`: a new verification link for the caller's account.
//!
//! Tokens are 32 CSPRNG bytes; stores keep only their SHA-256. Mail is handed to the host's
//! mailer, which queues it durably: no request waits on a mail server.

use super::Ctx;
use super::signin::gates::{self, Gate, Refusal};
use super::signin::{Subject, device_cookie};
use crate::auth::authenticate;
use crate::client::Client;
use crate::csrf;
use crate::envelope::{self, ApiError, FieldError};
use crate::http::Response;
use crate::mail;
use crate::password;
use crate::token::{MailToken, hex_sha256};
use crate::validation::{self, Email};
use asm_contract::{EventType, TokenPurpose, UserProfile};
use serde_json::json;

const FORGOT_ANSWER: &str = "If an account uses this email, a reset link is on its way";

pub async fn forgot(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    csrf::check(cx.req, cx.settings)?;
    let email = validation::email_only(cx.body()?)?;
    let base = link_base(cx)?;
    let subject = Subject::by_email(cx, email.clone()).await?;
    limit(cx, "forgot", &subject).await?;
    let (s, host) = (cx.settings, cx.host);
    let token = MailToken::generate(host.system);
    let expires_at = host.system.now_ms() + s.reset_token_lifetime.as_millis() as i64;
    // The store does the same work for an email without an account, and both get one message.
    let user =
        host.users.issue_token(email.as_str().into(), TokenPurpose::PasswordReset, token.hash(), expires_at).await?;
    let message = match &user {
        // The token is issued all the same (the same work), but no link goes out.
        Some(u) if u.disabled => mail::reset_while_disabled(&s.service_name, &u.email),
        Some(u) => {
            let link = format!("{base}/account/reset?token={}", token.link_value());
            mail::password_reset(&s.service_name, &u.email, &link, s.reset_token_lifetime)
        }
        None => mail::no_account(&s.service_name, email.as_str()),
    };
    host.mailer.send(message).await?;
    Ok(envelope::success(202, FORGOT_ANSWER, json!({})))
}

pub async fn reset(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    csrf::check(cx.req, cx.settings)?;
    let request = validation::password_reset(cx.body()?, cx.settings.password_hashing)?;
    let (s, host) = (cx.settings, cx.host);
    let hash = request.token.hash();
    // Looked at first, used up only once the new password is accepted: a password the rules
    // refuse does not cost the person their link.
    let user = host
        .users
        .redeem_token(TokenPurpose::PasswordReset, hash.clone(), host.system.now_ms(), false)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    // The link is a credential too: a disabled account gets no new password through it.
    if user.disabled {
        return Err(ApiError::AccountDisabled);
    }
    if let Some(problem) =
        password::problem_for_account(&request.new_password, &user.email, &user.username, cx.settings.password_hashing)
    {
        return Err(ApiError::Validation(vec![FieldError::new("new_password", problem)]));
    }
    let new_hash = cx.hash_password(&request.new_password).await?;
    let reset = async {
        // Of parallel resets with one token, one gets here with the account.
        let user = host
            .users
            .redeem_token(TokenPurpose::PasswordReset, hash, host.system.now_ms(), true)
            .await?
            .ok_or(ApiError::InvalidToken)?;
        let version = host.users.update_password(user.user_id(), new_hash).await?;
        Ok((user, version))
    };
    let (user, version) = cx.recorded(EventType::UserPasswordReset, &user.id, json!({}), reset).await?;
    let user_id = user.user_id();
    // As for a password change: the session store learns the new credential version before the
    // sessions end, so a login that verified the old password meanwhile leaves none behind.
    host.sessions.set_credential_version(user_id.clone(), version).await?;
    let revoked = host.sessions.delete_user_sessions(user_id.clone()).await?;
    // The link reached the mailbox, so the address is the owner's.
    if !user.email_verified {
        host.users.mark_email_verified(user_id).await?;
    }
    let email = Email::of_account(&user.email)?;
    host.sessions.reset_attempts(gates::account_key(&email, None)).await?;
    cx.notify(mail::password_changed(&s.service_name, &user.email, true)).await;
    let device = device_cookie::issue(host, s, &email, version, user.devices_issued);
    Ok(envelope::success(200, "Password reset", json!({ "revoked": revoked })).with_header("set-cookie", device))
}

pub async fn verify(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    csrf::check(cx.req, cx.settings)?;
    let token = validation::token_only(cx.body()?)?;
    let host = cx.host;
    let user = host
        .users
        .redeem_token(TokenPurpose::EmailVerification, token.hash(), host.system.now_ms(), true)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let mark = async { Ok(host.users.mark_email_verified(user.user_id()).await?) };
    cx.recorded(EventType::UserEmailVerified, &user.id, json!({ "email": user.email }), mark).await?;
    // Session checks read the profile kept beside the sessions: it learns the news too. The email
    // is verified and the link used up by now, so a session store that fails here costs only a
    // stale `email_verified` in session checks until the next login, not an error.
    let profile = UserProfile { email_verified: true, ..UserProfile::from(&user) };
    if let Err(e) = host.sessions.put_user_profile(profile).await {
        eprintln!("verify: the session store kept the old profile: {e:?}");
    }
    Ok(envelope::success(200, "Email verified", json!({ "email": user.email, "email_verified": true })))
}

pub async fn resend(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let user = super::account::current_user(cx, &caller).await?;
    if user.email_verified {
        return Ok(envelope::success(200, "Email already verified", json!({ "email_verified": true })));
    }
    let subject = Subject::account(cx, user)?;
    limit(cx, "verify", &subject).await?;
    send_verification(cx, &subject.email).await?;
    Ok(envelope::success(202, "Verification email sent", json!({ "email_verified": false })))
}

/// Mails a new verification link to the account with this email (voiding older links).
pub async fn send_verification(cx: &Ctx<'_>, email: &Email) -> Result<(), ApiError> {
    let base = link_base(cx)?;
    let (s, host) = (cx.settings, cx.host);
    let token = MailToken::generate(host.system);
    let expires_at = host.system.now_ms() + s.verification_token_lifetime.as_millis() as i64;
    let purpose = TokenPurpose::EmailVerification;
    let issued = host.users.issue_token(email.as_str().into(), purpose, token.hash(), expires_at).await?;
    if let Some(user) = issued.filter(|u| !u.disabled) {
        let link = format!("{base}/account/verify?token={}", token.link_value());
        host.mailer
            .send(mail::verification(&s.service_name, &user.email, &link, s.verification_token_lifetime))
            .await?;
    }
    Ok(())
}

/// Where links in mail point: `PUBLIC_URL`. Without it, a development service uses the address
/// the request was sent to; a production service refuses (the host will not start without it,
/// and other hosts get a 503 naming the setting), since a link built from a request's `Host`
/// header could point anywhere.
pub(super) fn link_base(cx: &Ctx<'_>) -> Result<String, ApiError> {
    if let Some(url) = &cx.settings.public_url {
        return Ok(url.clone());
    }
    let host = cx.req.header_str("host").map(str::trim).unwrap_or_default();
    let plausible = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if cx.settings.production || !plausible {
        return Err(ApiError::NotConfigured("PUBLIC_URL"));
    }
    Ok(format!("http://{host}"))
}

/// Counts one mail request for the subject's email against its limits, or refuses it (429 with
/// `Retry-After`): every request counts on the client address's counter; a browser with the
/// account's device cookie counts on its own; every other request counts on the email's counter
/// for its client address and on the mailbox's counter (which bounds the mail a mailbox gets).
pub(super) async fn limit(cx: &Ctx<'_>, what: &str, subject: &Subject) -> Result<(), ApiError> {
    let s = cx.settings;
    let client = Client::of(cx.req, s, cx.host.geo);
    let gate = |key: String, limit: u32| Gate { key: format!("mail:{what}:{key}"), limit, window: s.recovery_window };
    let mut limits = Vec::with_capacity(3);
    if let Some(ip) = client.ip {
        limits.push(gate(format!("ip:{ip}"), s.recovery_max_per_address));
    }
    let digest = hex_sha256(subject.email.as_str().as_bytes());
    match &subject.device {
        Some(device) => limits.push(gate(format!("device:{device}"), s.recovery_max_per_email)),
        None => {
            let from = client.address();
            limits.push(gate(format!("email:{digest}:from:{from}"), s.recovery_max_per_email));
            limits.push(gate(format!("mailbox:{digest}"), s.recovery_max_per_mailbox));
        }
    }
    gates::charge(cx.host, &limits).await.map_err(Refusal::into_request_error)
}
