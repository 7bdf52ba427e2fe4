//! The operators' API under `/admin`, with `Authorization: Bearer <ADMIN_TOKEN>` (one of the
//! configured tokens, compared by their SHA-256 in constant time). Without `ADMIN_TOKEN` the
//! routes do not exist (404, `routes::serve`). Find accounts, create them (without a password the
//! person is mailed a link to choose one), read, change, disable and enable them, end their
//! sessions, reset their second factor, and erase them.

use super::lifecycle::erase;
use super::recovery::link_base;
use super::{Ctx, sessions, views};
use crate::auth::bearer_token;
use crate::envelope::{self, ApiError, FieldError};
use crate::http::Response;
use crate::mail;
use crate::token::MailToken;
use crate::validation;
use asm_contract::{EventType, NewUser, TokenPurpose, User, UserId, UserProfile};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Whether the request carries one of the operators' tokens. Only digests are compared, all of
/// them, without stopping at the first match.
fn authorize(cx: &Ctx<'_>) -> Result<(), ApiError> {
    let presented = bearer_token(cx.req).filter(|t| !t.is_empty()).ok_or(ApiError::AdminUnauthorized)?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut matched = 0u8;
    for known in &cx.settings.admin_token_digests {
        let differs = known.iter().zip(digest.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        matched |= u8::from(differs == 0);
    }
    if matched == 1 { Ok(()) } else { Err(ApiError::AdminUnauthorized) }
}

/// The account the route's `{id}` names, or 404.
async fn account(cx: &Ctx<'_>, id: &str) -> Result<User, ApiError> {
    cx.host.users.find_user_by_id(UserId::from(id)).await?.ok_or(ApiError::NotFound("user"))
}

/// How many accounts a page holds at most.
const PAGE_MAX: u32 = 100;
const PAGE_DEFAULT: u32 = 20;

/// `GET /admin/users?q=&limit=&cursor=`.
pub async fn search(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    authorize(cx)?;
    let req = cx.req;
    let mut errors = Vec::new();
    let query = req.query_param_decoded("q").unwrap_or_default();
    if query.chars().count() > validation::EMAIL_MAX {
        errors.push(FieldError::new("q", format!("must be at most {} characters", validation::EMAIL_MAX)));
    } else if query.chars().any(char::is_control) {
        // No email or username holds one, and PostgreSQL takes no NUL in text.
        errors.push(FieldError::new("q", "must not contain control characters"));
    }
    let limit = super::page_limit(req, PAGE_DEFAULT, PAGE_MAX, &mut errors);
    let cursor = req.query_param_decoded("cursor").filter(|c| !c.is_empty());
    if cursor.as_ref().is_some_and(|c| c.len() > 200 || !c.is_ascii()) {
        errors.push(FieldError::new("cursor", "is not a cursor this service gave"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = cx.host.users.search_users(query.trim().to_lowercase(), limit, cursor).await?;
    let users: Vec<Value> = page.users.iter().map(|u| views::account(u, None)).collect();
    Ok(envelope::success(200, "Accounts", json!({ "users": users, "next_cursor": page.next })))
}

/// `POST /admin/users`.
pub async fn create(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    authorize(cx)?;
    let new = validation::new_account(cx.body()?, cx.settings.password_hashing)?;
    let (s, host) = (cx.settings, cx.host);
    // Without a password there is none to match: the person chooses one through the mailed link.
    let password_hash = match &new.password {
        Some(password) => cx.hash_password(password).await?,
        None => String::new(),
    };
    // Links need a base; check before the account exists rather than leave it unreachable.
    let base = if new.password.is_none() { Some(link_base(cx)?) } else { None };
    let email = new.email.clone();
    let created = host
        .users
        .create_user(NewUser {
            email: new.email.into_string(),
            username: new.username,
            full_name: new.full_name,
            password_hash,
        })
        .await?;
    let data = json!({ "email": created.email, "username": created.username, "by": "operator" });
    cx.created(&created.user_id(), data).await?;
    if new.email_verified {
        host.users.mark_email_verified(created.user_id()).await?;
    }
    match base {
        Some(base) => {
            let token = MailToken::generate(host.system);
            let valid_for = s.verification_token_lifetime;
            let expires_at = host.system.now_ms() + valid_for.as_millis() as i64;
            host.users
                .issue_token(email.as_str().into(), TokenPurpose::PasswordReset, token.hash(), expires_at)
                .await?;
            let link = format!("{base}/account/reset?token={}", token.link_value());
            cx.notify(mail::account_created(&s.service_name, email.as_str(), &link, valid_for)).await;
        }
        None if !new.email_verified => {
            if let Err(e) = super::recovery::send_verification(cx, &email).await {
                eprintln!("admin create: the verification mail was not queued: {e:?}");
            }
        }
        None => {}
    }
    let user = account(cx, &created.id).await?;
    Ok(envelope::success(201, "Account created", json!({ "user": views::account(&user, Some(0)) })))
}

/// `GET /admin/users/{id}`.
pub async fn show(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    authorize(cx)?;
    let user = account(cx, id).await?;
    let active = sessions::live_sessions(cx, &user.user_id()).await?.len();
    Ok(envelope::success(200, "Account", json!({ "user": views::account(&user, Some(active)) })))
}

/// `PATCH /admin/users/{id}`: the same rules as registration, the same conflicts.
pub async fn update(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    authorize(cx)?;
    let changes = validation::account_changes(cx.body()?)?;
    let before = account(cx, id).await?;
    let host = cx.host;
    let new_email = changes.email.clone().filter(|e| !e.eq_ignore_ascii_case(&before.email));
    let update = async { host.users.update_user(before.user_id(), changes).await?.ok_or(ApiError::NotFound("user")) };
    let user = match new_email {
        Some(email) => {
            let data = json!({ "previous_email": before.email, "email": email, "by": "operator" });
            cx.recorded(EventType::UserEmailChanged, &before.id, data, update).await?
        }
        None => update.await?,
    };
    // Session checks show the account as it is now.
    host.sessions.put_user_profile(UserProfile::from(&user)).await?;
    if user.email != before.email {
        cx.notify(mail::email_changed(&cx.settings.service_name, &before.email, &user.email)).await;
    }
    Ok(envelope::success(200, "Account updated", json!({ "user": views::account(&user, None) })))
}

/// `POST /admin/users/{id}/disable`: no way in from now on, and every session ends at once.
pub async fn disable(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    authorize(cx)?;
    let user = account(cx, id).await?;
    let host = cx.host;
    let disable = async { host.users.set_disabled(user.user_id(), true).await?.ok_or(ApiError::NotFound("user")) };
    let version = cx.recorded(EventType::UserDisabled, &user.id, json!({ "by": "operator" }), disable).await?;
    // The session store learns the new version before the sessions end, so a sign-in in flight
    // leaves none behind.
    host.sessions.set_credential_version(user.user_id(), version).await?;
    let revoked = host.sessions.delete_user_sessions(user.user_id()).await?;
    Ok(envelope::success(200, "Account disabled", json!({ "disabled": true, "revoked": revoked })))
}

/// `POST /admin/users/{id}/enable`.
pub async fn enable(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    authorize(cx)?;
    let user = account(cx, id).await?;
    let enable = async { cx.host.users.set_disabled(user.user_id(), false).await?.ok_or(ApiError::NotFound("user")) };
    cx.recorded(EventType::UserEnabled, &user.id, json!({ "by": "operator" }), enable).await?;
    Ok(envelope::success(200, "Account enabled", json!({ "disabled": false })))
}

/// `DELETE /admin/users/{id}`: erased as its owner would erase it.
pub async fn delete(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    authorize(cx)?;
    let user = account(cx, id).await?;
    erase(cx, &user, true).await?;
    Ok(envelope::success(200, "Account deleted", json!({ "deleted": true })))
}

/// `GET /admin/users/{id}/sessions`.
pub async fn list_sessions(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    authorize(cx)?;
    let user = account(cx, id).await?;
    let mut live = sessions::live_sessions(cx, &user.user_id()).await?;
    live.sort_by_key(|s| std::cmp::Reverse(s.last_activity));
    let list: Vec<Value> = live.iter().map(|s| views::session(s, false)).collect();
    let total = list.len();
    Ok(envelope::success(200, "Sessions", json!({ "sessions": list, "total_active_sessions": total })))
}

/// `DELETE /admin/users/{id}/sessions`: after a stolen laptop.
pub async fn end_sessions(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    authorize(cx)?;
    let user = account(cx, id).await?;
    let end = async { Ok(cx.host.sessions.delete_user_sessions(user.user_id()).await?) };
    let revoked = cx.recorded(EventType::SessionRevoked, &user.id, json!({ "reason": "operator" }), end).await?;
    Ok(envelope::success(200, "Sessions ended", json!({ "revoked": revoked })))
}

/// `GET /admin/events`: the audit trail.
pub async fn events(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    authorize(cx)?;
    super::events::list(cx).await
}

/// `DELETE /admin/users/{id}/mfa`: second factors and recovery codes removed, the owner told.
pub async fn reset_second_factor(cx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    authorize(cx)?;
    let user = account(cx, id).await?;
    let host = cx.host;
    let reset = async { Ok(host.users.disable_totp(user.user_id()).await?) };
    if user.totp_enabled {
        cx.recorded(EventType::MfaDisabled, &user.id, json!({ "factor": "totp", "by": "operator" }), reset).await?;
    } else {
        reset.await?;
    }
    host.sessions.put_user_profile(UserProfile { mfa_enabled: false, ..UserProfile::from(&user) }).await?;
    if user.totp_enabled {
        cx.notify(mail::second_factor_reset(&cx.settings.service_name, &user.email)).await;
    }
    Ok(envelope::success(200, "Second factor reset", json!({ "mfa_enabled": false })))
}
