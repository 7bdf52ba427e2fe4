//! `GET /healthz` (the process is up) and `GET /readyz` (its stores answer).

use super::Ctx;
use crate::envelope::{self, ApiError};
use crate::http::Response;
use asm_contract::StoreError;
use serde_json::json;

pub fn healthz() -> Result<Response, ApiError> {
    Ok(envelope::success(200, "ok", json!({ "status": "up" })))
}

pub async fn readyz(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let describe = |r: Result<(), StoreError>| match r {
        Ok(()) => "up",
        Err(StoreError::Unavailable(_)) => "unavailable",
        Err(_) => "error",
    };
    let users = describe(cx.host.users.ping().await);
    let sessions = describe(cx.host.sessions.ping().await);
    let checks = json!({ "user_store": users, "session_store": sessions });
    if users == "up" && sessions == "up" {
        Ok(envelope::success(200, "ready", checks))
    } else {
        Ok(envelope::error(503, "Service temporarily unavailable", checks))
    }
}
