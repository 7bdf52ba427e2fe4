//! The routes: one function each, all returning `Result<Response, ApiError>`.

use crate::client;
use crate::config::Settings;
use crate::device;
use crate::envelope::{self, ApiError};
use crate::http::{Body, Request, Response};
use crate::password;
use crate::store::{Host, NewUser, Session, User};
use crate::token;
use crate::validation;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// What every handler gets: the request, the host's imports and the settings.
pub struct Ctx<'a, H: Host + ?Sized> {
    pub req: &'a Request,
    pub host: &'a H,
    pub settings: &'a Settings,
}

/// An authenticated request's session and the raw token's hash.
struct Authed {
    session: Session,
}

pub fn register<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let reg = validation::registration(body(cx.req)?)?;
    let password_hash = password::hash(&reg.password, cx.settings.bcrypt_cost).map_err(ApiError::Internal)?;
    let user = cx.host.create_user(NewUser {
        email: reg.email,
        username: reg.username,
        full_name: reg.full_name,
        password_hash,
    })?;
    Ok(envelope::success(
        201,
        "User registered successfully",
        json!({ "id": user.id, "email": user.email, "username": user.username }),
    ))
}

pub fn login<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let creds = validation::credentials(body(cx.req)?)?;
    let s = cx.settings;

    // Counted before the password is checked, so parallel guesses cannot outrun the limit;
    // unknown emails are counted the same way, so a 429 says nothing about the account.
    let key = format!("login:email:{}", token::hex_sha256(creds.email.as_bytes()));
    let attempts = cx.host.count_attempt(&key, s.login_window.as_millis() as u64)?;
    if attempts.count > s.login_max_attempts {
        return Err(ApiError::TooManyAttempts { retry_after_secs: attempts.retry_after_ms.div_ceil(1000).max(1) });
    }

    let user = cx.host.find_user_by_email(&creds.email)?;
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
        _ => return Err(ApiError::InvalidCredentials),
    };
    cx.host.reset_attempts(&key)?;

    let now = cx.host.now_ms();
    let token = token::encode(&cx.host.random_bytes(token::TOKEN_BYTES));
    let ip = cx.req.header_str(client::CLIENT_ADDR_HEADER).and_then(client::parse_addr);
    let user_agent = device::truncate(cx.req.header_str("user-agent").unwrap_or(""), device::MAX_USER_AGENT);
    let lifetime_ms = s.session_lifetime.as_millis() as i64;
    let session = Session {
        id: token::public_id(&cx.host.random_bytes(16)),
        token_hash: token::hash(&token),
        user_id: user.id.clone(),
        ip_address: ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: user_agent.to_string(),
        device: device::parse(user_agent),
        location: client::location(ip, |ip| cx.host.geo_lookup(ip)),
        created_at: now,
        last_activity: now,
        expires_at: now + lifetime_ms,
    };
    cx.host.create_session(session)?;
    cx.host.record_login(&user.id, now)?;

    let max_age = s.session_lifetime.as_secs();
    Ok(envelope::success(
        200,
        "Login successful",
        json!({ "user": { "id": user.id, "email": user.email, "username": user.username } }),
    )
    .with_header("set-cookie", session_cookie(s, &token, max_age)))
}

pub fn logout<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    cx.host.delete_session(&authed.session.user_id, &authed.session.token_hash)?;
    Ok(envelope::success(200, "Logged out successfully", json!({}))
        .with_header("set-cookie", session_cookie(cx.settings, "", 0)))
}

pub fn me<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    let user = current_user(cx, &authed)?;
    Ok(envelope::success(200, "Current user", json!({ "user": user_json(&user) })))
}

pub fn sessions<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    let now = cx.host.now_ms();
    let mut list: Vec<Session> =
        cx.host.list_sessions(&authed.session.user_id)?.into_iter().filter(|s| s.expires_at > now).collect();
    list.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then(b.created_at.cmp(&a.created_at)));
    let current = &authed.session.token_hash;
    let entries: Vec<Value> = list.iter().map(|s| session_json(s, &s.token_hash == current)).collect();
    Ok(envelope::success(
        200,
        "Active sessions",
        json!({ "sessions": entries, "total_active_sessions": entries.len() }),
    ))
}

pub fn healthz() -> Result<Response, ApiError> {
    Ok(envelope::success(200, "ok", json!({ "status": "up" })))
}

pub fn readyz<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let describe = |r: Result<(), crate::store::StoreError>| match r {
        Ok(()) => "up".to_string(),
        Err(crate::store::StoreError::Unavailable(_)) => "unavailable".to_string(),
        Err(_) => "error".to_string(),
    };
    let users = describe(cx.host.ping_users());
    let sessions = describe(cx.host.ping_sessions());
    let checks = json!({ "user_store": users, "session_store": sessions });
    if users == "up" && sessions == "up" {
        Ok(envelope::success(200, "ready", checks))
    } else {
        Ok(envelope::error(503, "Service temporarily unavailable", checks))
    }
}

fn body(req: &Request) -> Result<&[u8], ApiError> {
    match &req.body {
        Body::Empty => Ok(&[]),
        Body::Bytes(b) => Ok(b),
        Body::TooLarge => Err(ApiError::PayloadTooLarge),
    }
}

/// The session the request's token names, if it is live. Tokens come from
/// `Authorization: Bearer` first, then from the session cookie.
fn authenticate<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Authed, ApiError> {
    let token = bearer_token(cx.req).or_else(|| cookie_value(cx.req, &cx.settings.cookie_name));
    let token = match token {
        Some(t) if token::well_formed(t) => t,
        _ => return Err(ApiError::Unauthorized),
    };
    let session = cx.host.get_session(&token::hash(token))?.ok_or(ApiError::Unauthorized)?;
    if session.expires_at <= cx.host.now_ms() {
        return Err(ApiError::Unauthorized);
    }
    Ok(Authed { session })
}

fn current_user<H: Host + ?Sized>(cx: &Ctx<H>, authed: &Authed) -> Result<User, ApiError> {
    cx.host.find_user_by_id(&authed.session.user_id)?.ok_or(ApiError::Unauthorized)
}

pub fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.header_str("authorization")?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The value of the named cookie in any `Cookie` header.
pub fn cookie_value<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.header_values("cookie")
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

fn session_cookie(s: &Settings, value: &str, max_age: u64) -> String {
    let secure = if s.cookie_secure { "; Secure" } else { "" };
    format!("{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", s.cookie_name)
}

pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "username": u.username,
        "full_name": u.full_name,
        "created_at": rfc3339(u.created_at),
        "last_login": u.last_login.map(rfc3339),
    })
}

fn session_json(s: &Session, current: bool) -> Value {
    json!({
        "id": s.id,
        "device_info": s.device.summary,
        "device": {
            "browser": s.device.browser,
            "browser_version": s.device.browser_version,
            "os": s.device.os,
            "os_version": s.device.os_version,
            "category": s.device.category,
        },
        "ip_address": s.ip_address,
        "location": s.location,
        "user_agent": s.user_agent,
        "created_at": rfc3339(s.created_at),
        "last_activity": rfc3339(s.last_activity),
        "expires_at": rfc3339(s.expires_at),
        "current_session": current,
    })
}
