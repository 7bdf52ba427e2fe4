//! Every way into a session, and the one place they end.
//!
//! - [`password`]: `POST /auth/login`, and [`password::recheck`] for the routes that ask the
//!   signed-in user for the password again;
//! - [`second_step`]: `POST /auth/login/mfa`, a sign-in's second factor;
//! - [`attempt`]: [`Attempt`], the one type a check passes its gates with and reports its
//!   verdict through, and [`Passed`], the proof a sign-in is completed with;
//! - [`gates`]: the counters (per address, per account or device, per account's second factor,
//!   per token); [`device_cookie`]: the cookies that tell the owner's known browsers apart;
//! - [`complete`]: a passed check becomes a session here, or the second step the account asks
//!   for; nothing else creates a session.

pub mod attempt;
pub mod device_cookie;
pub mod gates;
pub mod password;
pub mod second_step;

pub use attempt::{Attempt, Check, Passed, Subject};

use super::{Ctx, views};
use crate::auth::session_cookie;
use crate::client::Client;
use crate::envelope::{self, ApiError};
use crate::http::Response;
use crate::token::{self, MailToken, SessionToken};
use crate::validation::Email;
use asm_contract::{
    AttemptRecord, EventType, LoginOutcome, Retention, Session, SessionCreated, TokenPurpose, User, UserProfile,
};
use serde_json::json;

/// How a sign-in proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The password: a first factor, which an account with a second factor does not stop at.
    Password,
    /// The password, then a TOTP code.
    Totp,
    /// The password, then a recovery code.
    RecoveryCode,
}

impl Method {
    /// Whether the sign-in passed a second factor.
    fn second_factor(self) -> bool {
        !matches!(self, Method::Password)
    }

    /// Its name in the `session.created` event.
    fn name(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Totp => "totp",
            Method::RecoveryCode => "recovery_code",
        }
    }

    /// What the account's history records.
    fn outcome(self) -> LoginOutcome {
        match self {
            Method::Password | Method::Totp => LoginOutcome::Success,
            Method::RecoveryCode => LoginOutcome::RecoveryCode,
        }
    }
}

/// Completes a sign-in whose check has passed: said only to whoever holds the credential, a
/// disabled account is refused, and an unverified email (with `REQUIRE_VERIFIED_EMAIL`); an account with a second factor
/// gets the second step instead, its counters untouched (knowing the password buys no fresh
/// guesses at the code); otherwise the counters the check passed are cleared and the session is
/// made, refused if the credentials changed since the ones verified were read.
pub async fn complete(cx: &Ctx<'_>, mut passed: Passed<'_>, method: Method) -> Result<Response, ApiError> {
    let user = passed.user()?.clone();
    // Said only to whoever holds the credential: wrong ones got what they always get.
    if user.disabled {
        return Err(ApiError::AccountDisabled);
    }
    if cx.settings.require_verified_email && !user.email_verified {
        return Err(ApiError::EmailNotVerified);
    }
    if user.totp_enabled && !method.second_factor() {
        return challenge(cx, &user).await;
    }
    passed.forgive().await?;
    let (s, host) = (cx.settings, cx.host);
    let (client, email) = (&passed.client, &passed.subject.email);
    let now = host.system.now_ms();
    let user_id = user.user_id();
    let token = SessionToken::generate(host.system, &user_id);
    let session = Session {
        id: token::public_id(host.system),
        token_hash: token.hash().into_string(),
        user_id: user.id.clone(),
        ip_address: client.address(),
        user_agent: client.user_agent.to_string(),
        device: client.device.clone(),
        location: client.location.clone(),
        created_at: now,
        last_activity: now,
        expires_at: now + s.session_lifetime.as_millis() as i64,
        mfa: method.second_factor(),
    };
    let profile = UserProfile { last_login: Some(now), ..UserProfile::from(&user) };
    let data = json!({
        "session_id": session.id,
        "method": method.name(),
        "mfa": session.mfa,
        "device": session.device.summary,
        "location": session.location,
    });
    let create = async {
        match host.sessions.create_session(session, profile, s.max_sessions_per_user, user.credential_version).await? {
            SessionCreated::Created(evicted) => Ok(evicted),
            // The credentials changed since the ones verified were read: no session, no event.
            SessionCreated::Stale => Err(ApiError::InvalidCredentials),
        }
    };
    let evicted = match cx.recorded(EventType::SessionCreated, &user.id, data, create).await {
        Err(ApiError::InvalidCredentials) => {
            record(cx, client, email, LoginOutcome::InvalidCredentials).await?;
            return Err(ApiError::InvalidCredentials);
        }
        other => other?,
    };
    // The cap ended older sessions in the same step: their event follows the new session's.
    // The sign-in has happened by then, so an event that cannot be written is logged.
    if !evicted.is_empty() {
        let data = json!({ "reason": "session_cap", "session_ids": evicted });
        if let Err(e) = cx.record(EventType::SessionRevoked, Some(&user.id), data).await {
            eprintln!("sign-in: the event of sessions ended by the cap was not written: {e:?}");
        }
    }
    let device_number = host.users.record_login(user_id, now).await?;
    record(cx, client, email, method.outcome()).await?;

    let device = device_cookie::issue(host, s, email, user.credential_version, device_number);
    let cookie = session_cookie(s, token.cookie_value(), s.session_lifetime.as_secs());
    // The session cookie last: a host that kept one header per name would keep the last.
    Ok(envelope::success(200, "Login successful", json!({ "user": views::user_summary(&user) }))
        .with_header("set-cookie", device)
        .with_header("set-cookie", cookie))
}

/// The answer to the right password of an account with a second factor: a token for the second
/// step (single use, 5 minutes, replacing the account's older one), no session.
async fn challenge(cx: &Ctx<'_>, user: &User) -> Result<Response, ApiError> {
    let host = cx.host;
    let token = MailToken::generate(host.system);
    let expires_at = host.system.now_ms() + attempt::SECOND_STEP_LIFETIME.as_millis() as i64;
    host.users.issue_token(user.email.clone(), TokenPurpose::MfaLogin, token.hash(), expires_at).await?;
    Ok(envelope::success(
        200,
        "Second factor required",
        json!({ "mfa_required": true, "mfa_token": token.link_value(), "methods": ["totp", "recovery_code"] }),
    ))
}

/// Adds an attempt to the history of the account with this email, if there is one (the store
/// does the same work either way).
async fn record(cx: &Ctx<'_>, client: &Client<'_>, email: &Email, outcome: LoginOutcome) -> Result<(), ApiError> {
    let s = cx.settings;
    let attempt = AttemptRecord {
        email: email.as_str().to_string(),
        outcome,
        ip_address: client.address(),
        user_agent: client.user_agent.to_string(),
        device_info: client.device.summary.clone(),
        location: client.location.clone(),
        at: cx.host.system.now_ms(),
    };
    let keep = Retention { max_age_ms: s.login_history_retention.as_millis() as u64, max_count: s.login_history_max };
    cx.host.users.record_login_attempt(attempt, keep).await?;
    Ok(())
}
