//! The routes: one function each, all returning `Result<Response, ApiError>`.

use crate::client;
use crate::config::Settings;
use crate::csrf;
use crate::device;
use crate::envelope::{self, ApiError, FieldError};
use crate::http::{Body, Request, Response};
use crate::password;
use crate::store::{Host, LoginAttempt, NewUser, Session, User};
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

/// The live session an authenticated request carries.
struct Authed {
    session: Session,
}

pub fn register<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    // A cross-site page must not create accounts in a visitor's browser either.
    csrf::check(cx.req, &cx.settings.allowed_origins)?;
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
    // Login CSRF: a cross-site form must not sign a visitor's browser into another account.
    csrf::check(cx.req, &cx.settings.allowed_origins)?;
    let creds = validation::credentials(body(cx.req)?)?;
    let s = cx.settings;
    let client = Client::of(cx);

    // Attempts are counted before the password is checked, so parallel guesses cannot outrun
    // a limit. Per address first (many accounts from one place), then per email; unknown
    // emails are counted the same way, so a 429 says nothing about the account.
    let ip_key = client.ip.map(|ip| format!("login:ip:{ip}"));
    if let Some(key) = &ip_key {
        let counted = cx.host.count_attempt(key, s.login_ip_window.as_millis() as u64)?;
        if counted.count > s.login_ip_max_attempts {
            return Err(too_many(counted));
        }
    }
    let email_key = lockout_key(&creds.email);
    let counted = cx.host.count_attempt(&email_key, s.login_window.as_millis() as u64)?;
    let user = cx.host.find_user_by_email(&creds.email)?;
    if counted.count > s.login_max_attempts {
        if let Some(u) = &user {
            record_attempt(cx, &client, &u.id, "locked")?;
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
            record_attempt(cx, &client, &u.id, "invalid_credentials")?;
            return Err(ApiError::InvalidCredentials);
        }
        None => return Err(ApiError::InvalidCredentials),
    };
    cx.host.reset_attempts(&email_key)?;
    if let Some(key) = &ip_key {
        // The per-address ceiling counts failures only: this attempt did not fail.
        cx.host.uncount_attempt(key)?;
    }
    if password::cost_of(&user.password_hash) != Some(s.bcrypt_cost) {
        let rehashed = password::hash(&creds.password, s.bcrypt_cost).map_err(ApiError::Internal)?;
        cx.host.update_password(&user.id, &rehashed)?;
    }

    let now = cx.host.now_ms();
    let token = token::encode(&cx.host.random_bytes(token::TOKEN_BYTES));
    let session = Session {
        id: token::public_id(&cx.host.random_bytes(16)),
        token_hash: token::hash(&token),
        user_id: user.id.clone(),
        ip_address: client.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: client.user_agent.to_string(),
        device: client.device.clone(),
        location: client.location.clone(),
        created_at: now,
        last_activity: now,
        expires_at: now + s.session_lifetime.as_millis() as i64,
    };
    cx.host.create_session(session, s.max_sessions_per_user)?;
    cx.host.record_login(&user.id, now)?;
    record_attempt(cx, &client, &user.id, "success")?;

    Ok(envelope::success(
        200,
        "Login successful",
        json!({ "user": { "id": user.id, "email": user.email, "username": user.username } }),
    )
    .with_header("set-cookie", session_cookie(s, &token, s.session_lifetime.as_secs())))
}

pub fn logout<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    cx.host.delete_session(&authed.session.user_id, &authed.session.token_hash)?;
    Ok(envelope::success(200, "Logged out successfully", json!({}))
        .with_header("set-cookie", session_cookie(cx.settings, "", 0))
        .with_header("clear-site-data", "\"cookies\""))
}

pub fn me<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    let user = current_user(cx, &authed)?;
    Ok(envelope::success(200, "Current user", json!({ "user": user_json(&user) })))
}

pub fn sessions<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    let mut list = live_sessions(cx, &authed.session.user_id)?;
    list.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then(b.created_at.cmp(&a.created_at)));
    let current = &authed.session.token_hash;
    let entries: Vec<Value> = list.iter().map(|s| session_json(s, &s.token_hash == current)).collect();
    Ok(envelope::success(
        200,
        "Active sessions",
        json!({ "sessions": entries, "total_active_sessions": entries.len() }),
    ))
}

/// `DELETE /auth/user/sessions/{id}`: ends one of the caller's own sessions.
pub fn revoke_session<H: Host + ?Sized>(cx: &Ctx<H>, id: &str) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    let user_id = &authed.session.user_id;
    // Only the caller's own sessions are searched: another user's id is simply not found.
    let target = live_sessions(cx, user_id)?.into_iter().find(|s| s.id == id).ok_or(ApiError::NotFound)?;
    if !cx.host.delete_session(user_id, &target.token_hash)? {
        return Err(ApiError::NotFound);
    }
    let ended_current = target.token_hash == authed.session.token_hash;
    let resp = envelope::success(200, "Session revoked", json!({ "id": target.id, "current_session": ended_current }));
    Ok(if ended_current { resp.with_header("set-cookie", session_cookie(cx.settings, "", 0)) } else { resp })
}

/// `DELETE /auth/user/sessions`: ends every session of the caller but this one.
pub fn revoke_other_sessions<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    let revoked = cx.host.delete_other_sessions(&authed.session.user_id, &authed.session.token_hash)?;
    Ok(envelope::success(200, "Other sessions revoked", json!({ "revoked": revoked })))
}

/// `POST /auth/user/password`: re-checks the current password, sets a new one, and by default
/// ends every other session of the user.
pub fn change_password<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    let change = validation::password_change(body(cx.req)?)?;
    let user = current_user(cx, &authed)?;
    if let Some(problem) = password::problem_for_account(&change.new_password, &user.email, &user.username) {
        return Err(ApiError::Validation(vec![FieldError::new("new_password", problem)]));
    }
    // A wrong current password counts toward the same lock-out as a wrong login.
    let key = lockout_key(&user.email);
    let counted = cx.host.count_attempt(&key, cx.settings.login_window.as_millis() as u64)?;
    if counted.count > cx.settings.login_max_attempts {
        return Err(too_many(counted));
    }
    if !password::verify(&change.current_password, &user.password_hash) {
        return Err(ApiError::WrongPassword);
    }
    cx.host.reset_attempts(&key)?;
    let hash = password::hash(&change.new_password, cx.settings.bcrypt_cost).map_err(ApiError::Internal)?;
    cx.host.update_password(&user.id, &hash)?;
    let revoked = if cx.settings.password_change_ends_sessions {
        cx.host.delete_other_sessions(&user.id, &authed.session.token_hash)?
    } else {
        0
    };
    Ok(envelope::success(200, "Password changed", json!({ "revoked": revoked })))
}

/// `GET /auth/user/logins?page=&per_page=`: the caller's login history, newest first.
pub fn logins<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Response, ApiError> {
    let authed = authenticate(cx)?;
    let number = |name: &'static str, default: u32, max: u32| -> Result<u32, ApiError> {
        match cx.req.query_param(name) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => {
                    Err(ApiError::Validation(vec![FieldError::new(name, format!("must be a number from 1 to {max}"))]))
                }
            },
        }
    };
    let page = number("page", 1, 1_000_000)?;
    let per_page = number("per_page", 20, 100)?;
    let offset = (page - 1).saturating_mul(per_page);
    let found = cx.host.list_login_attempts(&authed.session.user_id, offset, per_page)?;
    let items: Vec<Value> = found
        .attempts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "outcome": a.outcome,
                "ip_address": a.ip_address,
                "location": a.location,
                "device_info": a.device_info,
                "user_agent": a.user_agent,
                "created_at": rfc3339(a.at),
            })
        })
        .collect();
    Ok(envelope::success(
        200,
        "Login history",
        json!({ "logins": items, "page": page, "per_page": per_page, "total": found.total }),
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
/// `Authorization: Bearer` first, then from the session cookie; cookie-authenticated unsafe
/// requests must come from the service's own site (or an allowed origin).
fn authenticate<H: Host + ?Sized>(cx: &Ctx<H>) -> Result<Authed, ApiError> {
    // Any Authorization header is the credential, even one that is not a valid Bearer: a
    // request never falls back to the cookie past a header it sent.
    let (token, via_cookie) = match cx.req.header_str("authorization") {
        Some(_) => (bearer_token(cx.req), false),
        None => (cookie_value(cx.req, &cx.settings.cookie_name), true),
    };
    let token = match token {
        Some(t) if token::well_formed(t) => t,
        _ => return Err(ApiError::Unauthorized),
    };
    if via_cookie {
        csrf::check(cx.req, &cx.settings.allowed_origins)?;
    }
    let session = cx.host.get_session(&token::hash(token))?.ok_or(ApiError::Unauthorized)?;
    let now = cx.host.now_ms();
    if session.expires_at <= now {
        return Err(ApiError::Unauthorized);
    }
    let idle_ms = cx.settings.session_idle_timeout.map(|d| d.as_millis() as i64);
    if let Some(idle) = idle_ms
        && now - session.last_activity > idle
    {
        cx.host.delete_session(&session.user_id, &session.token_hash)?;
        return Err(ApiError::Unauthorized);
    }
    // `last_activity` is written at most once per interval, so reads stay reads.
    let interval = idle_ms.map_or(TOUCH_INTERVAL_MS, |idle| (idle / 4).clamp(250, TOUCH_INTERVAL_MS));
    if now - session.last_activity >= interval {
        let keep_until = idle_ms.map_or(session.expires_at, |idle| (now + idle).min(session.expires_at));
        if !cx.host.touch_session(&session.token_hash, now, keep_until)? {
            return Err(ApiError::Unauthorized);
        }
    }
    Ok(Authed { session })
}

/// The longest `last_activity` may lag behind a session's real use.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// Who is calling, as recorded with a session or a login attempt.
struct Client<'r> {
    ip: Option<std::net::IpAddr>,
    user_agent: &'r str,
    device: crate::store::Device,
    location: String,
}

impl<'r> Client<'r> {
    fn of<H: Host + ?Sized>(cx: &Ctx<'r, H>) -> Client<'r> {
        // The host appends its own value; on hosts that keep a client-sent copy (Spin), that
        // copy comes first, so only the last value is believed.
        let peer = cx.req.header_values(client::CLIENT_ADDR_HEADER).last().and_then(client::parse_addr);
        let ip = client::client_ip(peer, cx.req.header_values("x-forwarded-for"), &cx.settings.trusted_proxies);
        let user_agent = device::truncate(cx.req.header_str("user-agent").unwrap_or(""), device::MAX_USER_AGENT);
        Client {
            ip,
            user_agent,
            device: device::parse(user_agent),
            location: client::location(ip, |ip| cx.host.geo_lookup(ip)),
        }
    }
}

fn record_attempt<H: Host + ?Sized>(
    cx: &Ctx<H>,
    client: &Client,
    user_id: &str,
    outcome: &str,
) -> Result<(), ApiError> {
    cx.host.record_login_attempt(LoginAttempt {
        id: String::new(),
        user_id: user_id.to_string(),
        outcome: outcome.to_string(),
        ip_address: client.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: client.user_agent.to_string(),
        device_info: client.device.summary.clone(),
        location: client.location.clone(),
        at: cx.host.now_ms(),
    })?;
    Ok(())
}

fn lockout_key(email: &str) -> String {
    format!("login:email:{}", token::hex_sha256(email.as_bytes()))
}

fn too_many(counted: crate::store::Attempts) -> ApiError {
    ApiError::TooManyAttempts { retry_after_secs: counted.retry_after_ms.div_ceil(1000).max(1) }
}

fn live_sessions<H: Host + ?Sized>(cx: &Ctx<H>, user_id: &str) -> Result<Vec<Session>, ApiError> {
    let now = cx.host.now_ms();
    let idle = cx.settings.session_idle_timeout.map(|d| d.as_millis() as i64);
    Ok(cx
        .host
        .list_sessions(user_id)?
        .into_iter()
        .filter(|s| s.expires_at > now && idle.is_none_or(|idle| now - s.last_activity <= idle))
        .collect())
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
