//! `POST /auth/login`.

use super::{Ctx, views};
use crate::auth::session_cookie;
use crate::client::Client;
use crate::envelope::{self, ApiError};
use crate::http::Response;
use crate::lockout;
use crate::token::{self, SessionToken};
use crate::validation::{self, Email};
use crate::{csrf, password};
use asm_contract::{AttemptRecord, LoginOutcome, Retention, Session, SessionCreated, User, UserId, UserProfile};
use serde_json::json;

pub async fn login(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    // Login CSRF: a cross-site form must not sign a visitor's browser into another account.
    csrf::check(cx.req, cx.settings)?;
    let creds = validation::credentials(cx.body()?)?;
    let (s, host) = (cx.settings, cx.host);
    let client = Client::of(cx.req, s, host.geo);

    // The gates come before anything about the account is read: a 429 (and the time it takes)
    // is the same whether or not the email has an account.
    let device = lockout::trusted_device(cx.req, s, host.keyring, &creds.email);
    let gates = lockout::gates(s, &client, &creds.email, device.as_deref());
    let admitted = match lockout::admit(host, &gates).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            if refusal.first_locked() {
                record(cx, &client, &creds.email, LoginOutcome::Locked).await?;
            }
            return Err(refusal.into());
        }
    };
    let checked = check_password(cx, &creds.email, &creds.password).await;
    lockout::finish(host, admitted, matches!(checked, Ok(None))).await?;
    let Some(user) = checked? else {
        record(cx, &client, &creds.email, LoginOutcome::InvalidCredentials).await?;
        return Err(ApiError::InvalidCredentials);
    };
    // Said only to whoever knows the password.
    if s.require_verified_email && !user.email_verified {
        return Err(ApiError::EmailNotVerified);
    }
    let user_id = UserId::from(user.id.clone());
    if password::cost_of(&user.password_hash) != Some(s.bcrypt_cost) {
        let rehashed = password::hash(&creds.password, s.bcrypt_cost).map_err(ApiError::Internal)?;
        // Only while the hash is the one verified: a password change in between wins.
        host.users.rehash_password(user_id.clone(), user.password_hash.clone(), rehashed).await?;
    }
    // With a second factor, the failures counted so far stay until it is passed: knowing the
    // password must not buy fresh guesses at the code.
    if user.totp_enabled {
        return super::mfa::challenge(cx, &user).await;
    }
    host.sessions.reset_attempts(lockout::account_key(&creds.email, device.as_deref())).await?;
    finish_login(cx, &client, &user, &creds.email, false, LoginOutcome::Success).await
}

/// Ends a login that has passed every check: the session (refused if the password changed since
/// the one verified was read), the login stamp, the history, the cookies. `mfa` says whether a
/// second factor was passed; `outcome` is what the history records.
pub(super) async fn finish_login(
    cx: &Ctx<'_>,
    client: &Client<'_>,
    user: &User,
    email: &Email,
    mfa: bool,
    outcome: LoginOutcome,
) -> Result<Response, ApiError> {
    let (s, host) = (cx.settings, cx.host);
    let user_id = UserId::from(user.id.clone());
    let now = host.system.now_ms();
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
        mfa,
    };
    let profile = UserProfile { last_login: Some(now), ..UserProfile::from(user) };
    let created =
        host.sessions.create_session(session, profile, s.max_sessions_per_user, user.credential_version).await?;
    if created == SessionCreated::Stale {
        record(cx, client, email, LoginOutcome::InvalidCredentials).await?;
        return Err(ApiError::InvalidCredentials);
    }
    host.users.record_login(user_id, now).await?;
    record(cx, client, email, outcome).await?;

    let cookie = session_cookie(s, token.cookie_value(), s.session_lifetime.as_secs());
    // The session cookie last: a host that keeps one header per name keeps the last (jco's
    // Node shim does), and the device cookie is the one a login can do without.
    Ok(envelope::success(200, "Login successful", json!({ "user": views::user_summary(user) }))
        .with_header("set-cookie", lockout::device_cookie(host, s, email))
        .with_header("set-cookie", cookie))
}

/// The account, if the password is its password. An unknown email costs one verification
/// against a dummy hash, so the response time does not tell it from a wrong password.
async fn check_password(cx: &Ctx<'_>, email: &Email, password: &str) -> Result<Option<User>, ApiError> {
    let user = cx.host.users.find_user_by_email(email.as_str().to_string()).await?;
    let hash = user.as_ref().map_or_else(|| password::dummy_hash(cx.settings.bcrypt_cost), |u| u.password_hash.clone());
    let verified = password::verify(password, &hash);
    Ok(user.filter(|_| verified))
}

/// Adds the attempt to the history of the account with this email, if there is one (the store
/// does the same work either way).
pub(super) async fn record(
    cx: &Ctx<'_>,
    client: &Client<'_>,
    email: &Email,
    outcome: LoginOutcome,
) -> Result<(), ApiError> {
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
