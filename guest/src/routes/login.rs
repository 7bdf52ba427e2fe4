//! `POST /auth/login`, and the lock-out that guards every password check.

use super::{Ctx, views};
use crate::auth::session_cookie;
use crate::client::Client;
use crate::envelope::{self, ApiError};
use crate::http::Response;
use crate::token::{self, SessionToken};
use crate::validation::{self, Email};
use crate::{csrf, password};
use asm_contract::{Attempts, LoginAttempt, LoginOutcome, Session, UserId};
use serde_json::json;

pub async fn login(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    // Login CSRF: a cross-site form must not sign a visitor's browser into another account.
    csrf::check(cx.req, &cx.settings.allowed_origins)?;
    let creds = validation::credentials(cx.body()?)?;
    let (s, host) = (cx.settings, cx.host);
    let client = Client::of(cx.req, s, host.geo);

    // Attempts are counted before the password is checked, so parallel guesses cannot outrun
    // a limit. Per address first (many accounts from one place), then per email; unknown
    // emails are counted the same way, so a 429 says nothing about the account.
    let ip_key = client.ip.map(|ip| format!("login:ip:{ip}"));
    if let Some(key) = &ip_key {
        let counted = host.sessions.count_attempt(key.clone(), s.login_ip_window.as_millis() as u64).await?;
        if counted.count > s.login_ip_max_attempts {
            return Err(too_many(counted));
        }
    }
    let email_key = lockout_key(&creds.email);
    let counted = host.sessions.count_attempt(email_key.clone(), s.login_window.as_millis() as u64).await?;
    let user = host.users.find_user_by_email(creds.email.as_str().to_string()).await?;
    if counted.count > s.login_max_attempts {
        if let Some(u) = &user {
            record_attempt(cx, &client, &u.id, LoginOutcome::Locked).await?;
        }
        return Err(too_many(counted));
    }
    let verified = match &user {
        Some(u) => password::verify(&creds.password, &u.password_hash),
        None => {
            // Same work as a real check, so the response time does not reveal unknown emails.
            password::verify(&creds.password, &password::dummy_hash(s.bcrypt_cost));
            false
        }
    };
    let user = match user {
        Some(u) if verified => u,
        Some(u) => {
            record_attempt(cx, &client, &u.id, LoginOutcome::InvalidCredentials).await?;
            return Err(ApiError::InvalidCredentials);
        }
        None => return Err(ApiError::InvalidCredentials),
    };
    let user_id = UserId::from(user.id.clone());
    host.sessions.reset_attempts(email_key).await?;
    if let Some(key) = ip_key {
        // The per-address ceiling counts failures only: this attempt did not fail.
        host.sessions.uncount_attempt(key).await?;
    }
    if password::cost_of(&user.password_hash) != Some(s.bcrypt_cost) {
        let rehashed = password::hash(&creds.password, s.bcrypt_cost).map_err(ApiError::Internal)?;
        host.users.update_password(user_id.clone(), rehashed).await?;
    }

    let now = host.system.now_ms();
    let token = SessionToken::generate(host.system);
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
    };
    host.sessions.create_session(session, s.max_sessions_per_user).await?;
    host.users.record_login(user_id, now).await?;
    record_attempt(cx, &client, &user.id, LoginOutcome::Success).await?;

    let cookie = session_cookie(s, token.cookie_value(), s.session_lifetime.as_secs());
    Ok(envelope::success(200, "Login successful", json!({ "user": views::user_summary(&user) }))
        .with_header("set-cookie", cookie))
}

/// The counter of failed logins for an email: its SHA-256, so counter keys hold no addresses.
pub(super) fn lockout_key(email: &Email) -> String {
    format!("login:email:{}", token::hex_sha256(email.as_str().as_bytes()))
}

pub(super) fn too_many(counted: Attempts) -> ApiError {
    ApiError::TooManyAttempts { retry_after_secs: counted.retry_after_ms.div_ceil(1000).max(1) }
}

async fn record_attempt(
    cx: &Ctx<'_>,
    client: &Client<'_>,
    user_id: &str,
    outcome: LoginOutcome,
) -> Result<(), ApiError> {
    let attempt = LoginAttempt {
        id: String::new(),
        user_id: user_id.to_string(),
        outcome,
        ip_address: client.address(),
        user_agent: client.user_agent.to_string(),
        device_info: client.device.summary.clone(),
        location: client.location.clone(),
        at: cx.host.system.now_ms(),
    };
    cx.host.users.record_login_attempt(attempt).await?;
    Ok(())
}
