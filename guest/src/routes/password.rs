//! `POST /auth/user/password`: re-checks the current password, sets a new one, by default ends
//! every other session of the user, and tells the account's mailbox. Device cookies issued
//! before the change are void with the old credential version; this browser gets a new one.

use super::Ctx;
use super::account::current_user;
use super::signin::device_cookie;
use super::signin::password::recheck;
use crate::auth::authenticate;
use crate::envelope::{self, ApiError, FieldError};
use crate::http::Response;
use crate::mail;
use crate::password;
use crate::validation::{self, Email};
use asm_contract::EventType;
use serde_json::json;

pub async fn change(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let change = validation::password_change(cx.body()?)?;
    let user = current_user(cx, &caller).await?;
    if let Some(problem) =
        password::problem_for_account(&change.new_password, &user.email, &user.username, cx.settings.password_hashing)
    {
        return Err(ApiError::Validation(vec![FieldError::new("new_password", problem)]));
    }
    recheck(cx, &user, &change.current_password, "current_password").await?;
    let (s, host) = (cx.settings, cx.host);
    let hash = cx.hash_password(&change.new_password).await?;
    // The new credential version is known to the session store before other sessions end, so a
    // login that verified the old password meanwhile cannot leave a session behind.
    let data = json!({ "other_sessions_end": s.password_change_ends_sessions });
    let update = async { Ok(host.users.update_password(caller.user_id.clone(), hash).await?) };
    let version = cx.recorded(EventType::UserPasswordChanged, caller.user_id.as_str(), data, update).await?;
    host.sessions.set_credential_version(caller.user_id.clone(), version).await?;
    let revoked = if s.password_change_ends_sessions {
        host.sessions.delete_other_sessions(caller.user_id, caller.token_hash).await?
    } else {
        0
    };
    cx.notify(mail::password_changed(&s.service_name, &user.email, false)).await;
    let device = device_cookie::issue(host, s, &Email::of_account(&user.email)?, version, user.devices_issued);
    Ok(envelope::success(200, "Password changed", json!({ "revoked": revoked })).with_header("set-cookie", device))
}
