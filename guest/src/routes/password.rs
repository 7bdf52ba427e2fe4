//! `POST /auth/user/password`: re-checks the current password, sets a new one, by default ends
//! every other session of the user, and tells the account's mailbox.

use super::Ctx;
use super::account::current_user;
use crate::auth::authenticate;
use crate::client::Client;
use crate::envelope::{self, ApiError, FieldError};
use crate::http::Response;
use crate::lockout;
use crate::mail;
use crate::password;
use crate::validation::{self, Email};
use asm_contract::User;
use serde_json::json;

pub async fn change(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let caller = authenticate(cx).await?;
    let change = validation::password_change(cx.body()?)?;
    let user = current_user(cx, &caller).await?;
    if let Some(problem) = password::problem_for_account(&change.new_password, &user.email, &user.username) {
        return Err(ApiError::Validation(vec![FieldError::new("new_password", problem)]));
    }
    recheck(cx, &user, &change.current_password, "current_password").await?;
    let (s, host) = (cx.settings, cx.host);
    let hash = password::hash(&change.new_password, s.bcrypt_cost).map_err(ApiError::Internal)?;
    // The new credential version is known to the session store before other sessions end, so a
    // login that verified the old password meanwhile cannot leave a session behind.
    let version = host.users.update_password(caller.user_id.clone(), hash).await?;
    host.sessions.set_credential_version(caller.user_id.clone(), version).await?;
    let revoked = if s.password_change_ends_sessions {
        host.sessions.delete_other_sessions(caller.user_id, caller.token_hash).await?
    } else {
        0
    };
    cx.notify(mail::password_changed(&s.service_name, &user.email, false)).await;
    Ok(envelope::success(200, "Password changed", json!({ "revoked": revoked })))
}

/// Checks the signed-in user's password again, through the same gates as a login's: a wrong one
/// counts toward the lock-out, and past the limit even the right one gets 429. `field` names the
/// request field in the 401.
pub(super) async fn recheck(cx: &Ctx<'_>, user: &User, password: &str, field: &'static str) -> Result<(), ApiError> {
    let (s, host) = (cx.settings, cx.host);
    let email = Email::of_account(&user.email)?;
    let device = lockout::trusted_device(cx.req, s, host.keyring, &email);
    let gates = lockout::gates(s, &Client::of(cx.req, s, host.geo), &email, device.as_deref());
    let admitted = lockout::admit(host, &gates).await?;
    let verified = password::verify(password, &user.password_hash);
    lockout::finish(host, admitted, !verified).await?;
    if !verified {
        return Err(ApiError::WrongPassword(field));
    }
    host.sessions.reset_attempts(lockout::account_key(&email, device.as_deref())).await?;
    Ok(())
}
