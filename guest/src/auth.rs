//! Who is calling: the one place a request's credential becomes a [`Caller`].

use crate::config::Settings;
use crate::csrf;
use crate::envelope::ApiError;
use crate::http::Request;
use crate::routes::Ctx;
use crate::token::SessionToken;
use asm_contract::{Session, TokenHash, UserId, UserProfile};

/// The owner of a live session, as an authenticated request carries it.
pub struct Caller {
    pub session: Session,
    pub token_hash: TokenHash,
    pub user_id: UserId,
    /// The account as the session store keeps it for session checks, when it has it.
    pub profile: Option<UserProfile>,
}

/// The longest `last_activity` may lag behind a session's real use.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// The live session the request's token names. The token comes from `Authorization: Bearer`,
/// else from the session cookie; cookie-authenticated unsafe requests must come from the
/// service's own site (or an allowed origin). Idle sessions end here, and `last_activity` is
/// written at most once per interval, so reads stay reads.
pub async fn authenticate(cx: &Ctx<'_>) -> Result<Caller, ApiError> {
    // Any Authorization header is the credential, even one that is not a valid Bearer: a
    // request never falls back to the cookie past a header it sent.
    let (presented, via_cookie) = match cx.req.header_str("authorization") {
        Some(_) => (bearer_token(cx.req), false),
        None => match cookie_values(cx.req, &cx.settings.cookie_name)[..] {
            [] => (None, true),
            [one] => (Some(one), true),
            // A second copy can be planted from a sibling domain; neither is believed.
            _ => return Err(ApiError::BadRequest("the session cookie was sent more than once".into())),
        },
    };
    let token = presented.and_then(SessionToken::parse).ok_or(ApiError::Unauthorized)?;
    if via_cookie {
        csrf::check(cx.req, cx.settings)?;
    }
    let token_hash = token.hash();
    let sessions = cx.host.sessions;
    let found = sessions.get_session(token_hash.clone()).await?.ok_or(ApiError::Unauthorized)?;
    let (session, profile) = (found.session, found.user);
    let user_id = session.owner();
    let now = cx.host.system.now_ms();
    if session.expires_at <= now {
        return Err(ApiError::Unauthorized);
    }
    let idle_ms = cx.settings.session_idle_timeout.map(|d| d.as_millis() as i64);
    if let Some(idle) = idle_ms
        && now - session.last_activity > idle
    {
        sessions.delete_session(user_id, token_hash).await?;
        return Err(ApiError::Unauthorized);
    }
    let interval = idle_ms.map_or(TOUCH_INTERVAL_MS, |idle| (idle / 4).clamp(250, TOUCH_INTERVAL_MS));
    if now - session.last_activity >= interval {
        let keep_until = idle_ms.map_or(session.expires_at, |idle| (now + idle).min(session.expires_at));
        if !sessions.touch_session(token_hash.clone(), now, keep_until).await? {
            return Err(ApiError::Unauthorized);
        }
    }
    Ok(Caller { session, token_hash, user_id, profile })
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.header_str("authorization")?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The value of the named cookie in any `Cookie` header (the first, if it was sent twice).
pub fn cookie_value<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    cookie_values(req, name).into_iter().next()
}

/// Every value of the named cookie, in all `Cookie` headers.
pub fn cookie_values<'r>(req: &'r Request, name: &str) -> Vec<&'r str> {
    req.header_values("cookie")
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .collect()
}

/// The session cookie carrying `value` for `max_age` seconds (0 and an empty value clear it).
pub fn session_cookie(s: &Settings, value: &str, max_age: u64) -> String {
    let secure = if s.cookie_secure { "; Secure" } else { "" };
    format!("{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", s.cookie_name)
}
