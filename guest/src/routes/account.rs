//! The caller's own account: who they are, and their login history.

use super::{Ctx, views};
use crate::auth::{Caller, authenticate};
use crate::envelope::{self, ApiError, FieldError};
use crate::http::Response;
use asm_contract::{User, UserProfile};
use serde_json::{Value, json};

/// `GET /auth/user/me`: one session-store round trip when the store keeps the profile; else
/// the user store is asked, and the profile handed to the session store for next time.
pub async fn me(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let profile = match caller.profile {
        Some(p) if p.id == caller.user_id.as_str() => p,
        _ => {
            let profile = UserProfile::from(&current_user(cx, &caller).await?);
            cx.host.sessions.put_user_profile(profile.clone()).await?;
            profile
        }
    };
    Ok(envelope::success(200, "Current user", json!({ "user": views::user(&profile) })))
}

/// `GET /auth/user/logins?page=&per_page=`: newest first.
pub async fn login_history(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
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
    let found = cx.host.users.list_login_attempts(caller.user_id, offset, per_page).await?;
    let items: Vec<Value> = found.attempts.iter().map(views::login_attempt).collect();
    Ok(envelope::success(
        200,
        "Login history",
        json!({ "logins": items, "page": page, "per_page": per_page, "total": found.total }),
    ))
}

/// The caller's account; a session whose user is gone is no session.
pub(super) async fn current_user(cx: &Ctx<'_>, caller: &Caller) -> Result<User, ApiError> {
    cx.host.users.find_user_by_id(caller.user_id.clone()).await?.ok_or(ApiError::Unauthorized)
}
