//! The JSON shapes of the API's records.

use asm_contract::{LoginAttempt, Session, User, UserProfile};
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

pub fn user(u: &UserProfile) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "username": u.username,
        "full_name": u.full_name,
        "created_at": rfc3339(u.created_at),
        "last_login": u.last_login.map(rfc3339),
        "email_verified": u.email_verified,
        "mfa_enabled": u.mfa_enabled,
    })
}

/// An account as operators see it (never its hash or secrets); `active_sessions` when known.
pub fn account(u: &User, active_sessions: Option<usize>) -> Value {
    let mut view = json!({
        "id": u.id,
        "email": u.email,
        "username": u.username,
        "full_name": u.full_name,
        "created_at": rfc3339(u.created_at),
        "last_login": u.last_login.map(rfc3339),
        "email_verified": u.email_verified,
        "mfa_enabled": u.totp_enabled,
        "has_password": !u.password_hash.is_empty(),
        "disabled": u.disabled,
    });
    if let Some(n) = active_sessions {
        view["active_sessions"] = json!(n);
    }
    view
}

/// The short form in the login and registration responses.
pub fn user_summary(u: &User) -> Value {
    json!({ "id": u.id, "email": u.email, "username": u.username })
}

pub fn session(s: &Session, current: bool) -> Value {
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
        "mfa": s.mfa,
    })
}

pub fn login_attempt(a: &LoginAttempt) -> Value {
    json!({
        "id": a.id,
        "outcome": a.outcome.as_str(),
        "ip_address": a.ip_address,
        "location": a.location,
        "device_info": a.device_info,
        "user_agent": a.user_agent,
        "created_at": rfc3339(a.at),
    })
}
