//! `POST /auth/user/password`: re-checks the current password, sets a new one, and by default
//! ends every other session of the user.

use super::Ctx;
use super::account::current_user;
use super::login::{lockout_key, too_many};
use crate::auth::authenticate;
use crate::envelope::{self, ApiError, FieldError};
use crate::http::Response;
use crate::password;
use crate::validation::{self, Email};
use serde_json::json;

pub async fn change(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let change = validation::password_change(cx.body()?)?;
    let user = current_user(cx, &caller).await?;
    if let Some(problem) = password::problem_for_account(&change.new_password, &user.email, &user.username) {
        return Err(ApiError::Validation(vec![FieldError::new("new_password", problem)]));
    }
    // A wrong current password counts toward the same lock-out as a wrong login.
    let sessions = cx.host.sessions;
    let key = lockout_key(&Email::for_login(&user.email).map_err(|e| ApiError::Internal(e.into()))?);
    let counted = sessions.count_attempt(key.clone(), cx.settings.login_window.as_millis() as u64).await?;
    if counted.count > cx.settings.login_max_attempts {
        return Err(too_many(counted));
    }
    if !password::verify(&change.current_password, &user.password_hash) {
        return Err(ApiError::WrongPassword);
    }
    sessions.reset_attempts(key).await?;
    let hash = password::hash(&change.new_password, cx.settings.bcrypt_cost).map_err(ApiError::Internal)?;
    cx.host.users.update_password(caller.user_id.clone(), hash).await?;
    let revoked = if cx.settings.password_change_ends_sessions {
        sessions.delete_other_sessions(caller.user_id, caller.token_hash).await?
    } else {
        0
    };
    Ok(envelope::success(200, "Password changed", json!({ "revoked": revoked })))
}
