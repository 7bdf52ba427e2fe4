//! The password: `POST /auth/login`, and the re-check of the signed-in user's password that
//! sensitive changes ask for. Both pass the same gates, so a wrong password counts toward the
//! lock-out wherever it is typed.

use super::{Attempt, Check, Method, Subject};
use crate::envelope::ApiError;
use crate::http::Response;
use crate::routes::Ctx;
use crate::{csrf, password, validation};
use asm_contract::User;

/// `POST /auth/login`.
pub async fn login(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    // Login CSRF: a cross-site form must not sign a visitor's browser into another account.
    csrf::check(cx.req, cx.settings)?;
    let creds = validation::credentials(cx.body()?)?;
    let subject = Subject::by_email(cx, creds.email).await?;
    let attempt = Attempt::begin(cx, subject, Check::Login).await?;
    let verdict = verify(cx, attempt.subject().user.as_ref(), &creds.password).await;
    let passed = attempt.end(verdict).await?;
    let user = passed.user()?;
    if !password::is_current(&user.password_hash, cx.settings.password_hashing) {
        let rehashed = cx.hash_password(&creds.password).await?;
        // Only while the hash is the one verified: a password change in between wins.
        cx.host.users.rehash_password(user.user_id(), user.password_hash.clone(), rehashed).await?;
    }
    super::complete(cx, passed, Method::Password).await
}

/// Checks the signed-in user's password again, through the gates of a sign-in: a wrong one
/// counts toward the lock-out, and past the limit even the right one gets 429. `field` names
/// the request field in the 401.
pub async fn recheck(cx: &Ctx<'_>, user: &User, password: &str, field: &'static str) -> Result<(), ApiError> {
    let attempt = Attempt::begin(cx, Subject::account(cx, user.clone())?, Check::Recheck(field)).await?;
    let verdict = verify(cx, Some(user), password).await;
    attempt.end(verdict).await?.confirm().await
}

/// Whether the password is the account's. An unknown email costs one verification against a
/// dummy hash of the current algorithm and parameters, so the time does not tell it from a wrong password.
async fn verify(cx: &Ctx<'_>, user: Option<&User>, password: &str) -> Result<bool, ApiError> {
    let hash = user.map_or_else(|| password::dummy_hash(cx.settings.password_hashing), |u| u.password_hash.clone());
    let verified = cx.verify_password(password, &hash).await?;
    Ok(verified && user.is_some())
}
