//! Logging out and the session list: list, end one, end all others.

use super::{Ctx, views};
use crate::auth::{authenticate, session_cookie};
use crate::envelope::{self, ApiError};
use crate::http::Response;
use asm_contract::{EventType, Session, UserId};
use serde_json::{Value, json};

/// Ends the session and clears its cookie, and only that cookie: the device cookie stays, so
/// the browser is still known to the lock-out at its next login (no `Clear-Site-Data`, which
/// would delete every cookie of the site).
pub async fn logout(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let data = json!({ "session_id": caller.session.id, "reason": "logout" });
    let end = async { Ok(cx.host.sessions.delete_session(caller.user_id.clone(), caller.token_hash.clone()).await?) };
    cx.recorded(EventType::SessionRevoked, caller.user_id.as_str(), data, end).await?;
    Ok(envelope::success(200, "Logged out successfully", json!({}))
        .with_header("set-cookie", session_cookie(cx.settings, "", 0)))
}

/// `GET /auth/user/sessions`: newest activity first.
pub async fn list(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let mut list = live_sessions(cx, &caller.user_id).await?;
    list.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then(b.created_at.cmp(&a.created_at)));
    let current = caller.token_hash.as_str();
    let entries: Vec<Value> = list.iter().map(|s| views::session(s, s.token_hash == current)).collect();
    let total = entries.len();
    Ok(envelope::success(200, "Active sessions", json!({ "sessions": entries, "total_active_sessions": total })))
}

/// `DELETE /auth/user/sessions/{id}`: ends one of the caller's own sessions.
pub async fn revoke(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    // Only the caller's own sessions are searched: another user's id is simply not found.
    let target = live_sessions(cx, &caller.user_id)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(ApiError::NotFound("session"))?;
    let target_hash = target.token();
    let data = json!({ "session_id": target.id, "reason": "revoked" });
    let end = async {
        match cx.host.sessions.delete_session(caller.user_id.clone(), target_hash.clone()).await? {
            true => Ok(()),
            false => Err(ApiError::NotFound("session")),
        }
    };
    cx.recorded(EventType::SessionRevoked, caller.user_id.as_str(), data, end).await?;
    let ended_current = target_hash == caller.token_hash;
    let resp = envelope::success(200, "Session revoked", json!({ "id": target.id, "current_session": ended_current }));
    Ok(if ended_current { resp.with_header("set-cookie", session_cookie(cx.settings, "", 0)) } else { resp })
}

/// `DELETE /auth/user/sessions`: ends every session of the caller but this one.
pub async fn revoke_others(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let data = json!({ "reason": "others", "kept_session_id": caller.session.id });
    let end =
        async { Ok(cx.host.sessions.delete_other_sessions(caller.user_id.clone(), caller.token_hash.clone()).await?) };
    let revoked = cx.recorded(EventType::SessionRevoked, caller.user_id.as_str(), data, end).await?;
    Ok(envelope::success(200, "Other sessions revoked", json!({ "revoked": revoked })))
}

/// The user's sessions that are neither expired nor idle for too long.
pub(super) async fn live_sessions(cx: &Ctx<'_>, user_id: &UserId) -> Result<Vec<Session>, ApiError> {
    let now = cx.host.system.now_ms();
    let idle = cx.settings.session_idle_timeout.map(|d| d.as_millis() as i64);
    Ok(cx
        .host
        .sessions
        .list_sessions(user_id.clone())
        .await?
        .into_iter()
        .filter(|s| s.expires_at > now && idle.is_none_or(|idle| now - s.last_activity <= idle))
        .collect())
}
