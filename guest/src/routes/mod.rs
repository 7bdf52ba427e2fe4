//! The router and the handlers, one module per capability. The routes themselves are the
//! contract's (`asm_contract::http::ROUTES`), the only list of them: the router, the `Allow`
//! header of a 405, the host's metric labels and the test that compares `docs/openapi.yaml`
//! with what is served all read it.

mod account;
mod admin;
mod events;
mod health;
mod lifecycle;
pub mod page;
mod password;
mod recovery;
mod registration;
mod sessions;
pub mod signin;
mod totp;
pub mod views;

use crate::config::Settings;
use crate::envelope::ApiError;
use crate::host::Host;
use crate::http::{Body, Request, Response};
use asm_contract::http::{ROUTES, Route, fit};

/// What every handler gets: the request, the host and the settings.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub host: &'a Host<'a>,
    pub settings: &'a Settings,
}

impl Ctx<'_> {
    /// The request body, unless it was too large to read.
    pub fn body(&self) -> Result<&[u8], ApiError> {
        match &self.req.body {
            Body::Empty => Ok(&[]),
            Body::Bytes(b) => Ok(b),
            Body::TooLarge => Err(ApiError::PayloadTooLarge),
        }
    }

    /// A hash of a new password, made in a turn the host gives (503 when none comes).
    pub async fn hash_password(&self, password: &str) -> Result<String, ApiError> {
        let _turn = HashingTurn::take(self.host)?;
        crate::password::hash(password, self.settings.password_hashing).map_err(ApiError::Internal)
    }

    /// Whether a password matches a stored hash, checked in a turn the host gives.
    pub async fn verify_password(&self, password: &str, hash: &str) -> Result<bool, ApiError> {
        let _turn = HashingTurn::take(self.host)?;
        Ok(crate::password::verify(password, hash))
    }

    /// Queues a notice about a change the account's owner should know of (a new password, the
    /// second factor turned on or off). The change has happened by then, so a notice that
    /// cannot be queued is logged, not turned into an error.
    pub async fn notify(&self, notice: asm_contract::Mail) {
        let subject = notice.subject.clone();
        if let Err(e) = self.host.mailer.send(notice).await {
            eprintln!("notice \"{subject}\" was not queued: {e:?}");
        }
    }
}

/// A turn at hashing, given back when dropped.
struct HashingTurn<'h>(&'h dyn asm_contract::Hashing);

impl<'h> HashingTurn<'h> {
    fn take(host: &Host<'h>) -> Result<HashingTurn<'h>, ApiError> {
        if host.hashing.begin() { Ok(HashingTurn(host.hashing)) } else { Err(ApiError::Busy) }
    }
}

impl Drop for HashingTurn<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Routes the request to its handler. `HEAD` is routed wherever `GET` is (`crate::handle` drops
/// the body, RFC 9110 §9.3.2).
pub async fn serve(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let (method, path) = (cx.req.method.as_str(), cx.req.path.as_str());
    // Without an operator token the operators' routes do not exist, whatever the method.
    if asm_contract::http::is_admin(path) && cx.settings.admin_token_digests.is_empty() {
        return Err(ApiError::NoSuchRoute);
    }
    let head = method == "HEAD";
    let mut allowed = Vec::new();
    for r in ROUTES {
        if let Some(id) = fit(r.path, path) {
            if r.method == method || (head && r.method == "GET") {
                return dispatch(r, id.unwrap_or_default(), cx).await;
            }
            allowed.push(r.method);
            if r.method == "GET" {
                allowed.push("HEAD");
            }
        }
    }
    if allowed.is_empty() { Err(ApiError::NoSuchRoute) } else { Err(ApiError::MethodNotAllowed(allowed.join(", "))) }
}

/// The handler of each route of the contract (`asm_contract::http::ROUTES`).
/// The `limit` of a page of a list: `default` when absent, else a number from 1 to `max`; anything
/// else is a field error (and `default` meanwhile).
fn page_limit(req: &Request, default: u32, max: u32, errors: &mut Vec<crate::envelope::FieldError>) -> u32 {
    match req.query_param("limit") {
        None | Some("") => default,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.push(crate::envelope::FieldError::new("limit", format!("must be a number from 1 to {max}")));
                default
            }
        },
    }
}

async fn dispatch(route: &Route, id: &str, cx: &Ctx<'_>) -> Result<Response, ApiError> {
    match (route.method, route.path) {
        ("POST", "/auth/register") => registration::register(cx).await,
        ("POST", "/auth/login") => signin::password::login(cx).await,
        ("POST", "/auth/login/mfa") => signin::second_step::login(cx).await,
        ("POST", "/auth/logout") => sessions::logout(cx).await,
        ("GET", "/auth/user/me") => account::me(cx).await,
        ("GET", "/auth/user/sessions") => sessions::list(cx).await,
        ("DELETE", "/auth/user/sessions") => sessions::revoke_others(cx).await,
        ("DELETE", "/auth/user/sessions/{id}") => sessions::revoke(cx, id).await,
        ("POST", "/auth/user/password") => password::change(cx).await,
        ("GET", "/auth/user/logins") => account::login_history(cx).await,
        ("POST", "/auth/password/forgot") => recovery::forgot(cx).await,
        ("POST", "/auth/password/reset") => recovery::reset(cx).await,
        ("POST", "/auth/email/verify") => recovery::verify(cx).await,
        ("POST", "/auth/email/verify/resend") => recovery::resend(cx).await,
        ("POST", "/auth/user/totp") => totp::enroll(cx).await,
        ("POST", "/auth/user/totp/confirm") => totp::confirm(cx).await,
        ("DELETE", "/auth/user/totp") => totp::disable(cx).await,
        ("POST", "/auth/user/recovery-codes") => totp::new_recovery_codes(cx).await,
        ("POST", "/auth/user/email") => lifecycle::request_email_change(cx).await,
        ("POST", "/auth/email/change") => lifecycle::confirm_email_change(cx).await,
        ("DELETE", "/auth/user") => lifecycle::delete(cx).await,
        ("GET", "/auth/user/export") => lifecycle::export(cx).await,
        ("GET", "/admin/users") => admin::search(cx).await,
        ("POST", "/admin/users") => admin::create(cx).await,
        ("GET", "/admin/users/{id}") => admin::show(cx, id).await,
        ("PATCH", "/admin/users/{id}") => admin::update(cx, id).await,
        ("DELETE", "/admin/users/{id}") => admin::delete(cx, id).await,
        ("POST", "/admin/users/{id}/disable") => admin::disable(cx, id).await,
        ("POST", "/admin/users/{id}/enable") => admin::enable(cx, id).await,
        ("GET", "/admin/users/{id}/sessions") => admin::list_sessions(cx, id).await,
        ("DELETE", "/admin/users/{id}/sessions") => admin::end_sessions(cx, id).await,
        ("DELETE", "/admin/users/{id}/mfa") => admin::reset_second_factor(cx, id).await,
        ("GET", "/admin/events") => admin::events(cx).await,
        ("GET", "/account" | "/account/reset" | "/account/verify" | "/account/email") => {
            page::serve(cx, page::document(cx.settings))
        }
        ("GET", "/account/assets/account.css") => page::serve(cx, &page::CSS),
        ("GET", "/account/assets/account.js") => page::serve(cx, &page::JS),
        ("GET", "/healthz") => health::healthz(),
        ("GET", "/readyz") => health::readyz(cx).await,
        // A route of the contract this component has no handler for: the test below fails first.
        _ => Err(ApiError::NoSuchRoute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::http::Request;
    use asm_contract::{NoGeo, Unbounded, complete};
    use asm_stores::keyring::SecretKeys;
    use asm_stores::memory::MemoryStore;

    /// Every route of the contract reaches a handler: none answers the router's own 404.
    #[test]
    fn every_route_of_the_contract_has_a_handler() {
        let store = MemoryStore::new();
        let keys = SecretKeys::parse(&SecretKeys::encode(&[7; 32]), "").unwrap();
        let host = Host {
            users: &store,
            sessions: &store,
            geo: &NoGeo,
            keyring: &keys,
            mailer: &store,
            events: &store,
            hashing: &Unbounded,
            system: &crate::Os,
        };
        let settings = Settings { password_hashing: crate::tests::TEST_HASHING, ..Settings::default() };
        for r in ROUTES {
            let req = Request::new(r.method, &r.path.replace("{id}", "x"));
            let cx = Ctx { req: &req, host: &host, settings: &settings };
            let answer = complete(dispatch(r, "x", &cx));
            assert!(!matches!(answer, Err(ApiError::NoSuchRoute)), "{} {} has no handler", r.method, r.path);
        }
    }
}
