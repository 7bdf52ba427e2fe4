//! `POST /auth/register`: creates the account and mails a verification link.

use super::{Ctx, views};
use crate::envelope::{self, ApiError};
use crate::http::Response;
use crate::{csrf, validation};
use asm_contract::NewUser;
use serde_json::json;

pub async fn register(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    // A cross-site page must not create accounts in a visitor's browser either.
    csrf::check(cx.req, cx.settings)?;
    if !cx.settings.registration_enabled {
        return Err(ApiError::Forbidden("registration is closed: an operator creates accounts".into()));
    }
    let reg = validation::registration(cx.body()?, cx.settings.password_hashing)?;
    let password_hash = cx.hash_password(&reg.password).await?;
    let email = reg.email.clone();
    let new =
        NewUser { email: reg.email.into_string(), username: reg.username, full_name: reg.full_name, password_hash };
    let user = cx.host.users.create_user(new).await?;
    cx.created(&user.user_id(), json!({ "email": user.email, "username": user.username, "by": "registration" }))
        .await?;
    // The account exists now: a verification mail that cannot be queued is logged, not turned
    // into an error (the owner can ask again with /auth/email/verify/resend).
    if let Err(e) = super::recovery::send_verification(cx, &email).await {
        eprintln!("registration: the verification mail was not queued: {e:?}");
    }
    Ok(envelope::success(201, "User registered successfully", views::user_summary(&user)))
}
