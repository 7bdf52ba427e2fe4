//! The HTTP side of the contract: what every host and the component agree on about requests,
//! and the routes the component serves (the host labels its metrics with them; the component
//! routes by them; `docs/openapi.yaml` must list exactly them).

/// Bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Bodies beyond [`MAX_BODY_BYTES`] are still read (and dropped) up to this size, so the client
/// finishes sending and sees the 413 instead of a broken connection; past it the connection ends.
pub const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// The header in which the host passes the connection's peer address (Spin's name for it). The
/// native host removes any copy the client sent; Spin keeps it and appends its own, so readers
/// take the last value.
pub const CLIENT_ADDR_HEADER: &str = "spin-client-addr";

/// The environment variables the component reads its settings from (`wasi:cli/environment`);
/// hosts pass exactly these through.
pub const SETTINGS: &[&str] = &[
    "APP_ENV",
    "SESSION_LIFETIME",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "PASSWORD_HASH",
    "ARGON2_MEMORY_KIB",
    "ARGON2_ITERATIONS",
    "ARGON2_PARALLELISM",
    "BCRYPT_COST",
    "LOGIN_MAX_ATTEMPTS",
    "LOGIN_LOCKOUT_WINDOW",
    "LOGIN_IP_MAX_ATTEMPTS",
    "LOGIN_IP_WINDOW",
    "SESSION_IDLE_TIMEOUT",
    "MAX_SESSIONS_PER_USER",
    "PASSWORD_CHANGE_ENDS_SESSIONS",
    "TRUSTED_PROXIES",
    "ALLOWED_ORIGINS",
    "PUBLIC_URL",
    "LOGIN_HISTORY_RETENTION",
    "LOGIN_HISTORY_MAX",
    "SERVICE_NAME",
    "RESET_TOKEN_LIFETIME",
    "VERIFICATION_TOKEN_LIFETIME",
    "REQUIRE_VERIFIED_EMAIL",
    "RECOVERY_MAX_PER_EMAIL",
    "RECOVERY_MAX_PER_MAILBOX",
    "RECOVERY_MAX_PER_ADDRESS",
    "RECOVERY_WINDOW",
    "TOTP_ISSUER",
    "ADMIN_TOKEN",
    "REGISTRATION_ENABLED",
];

/// A method and a path template; `{id}` stands for one non-empty path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

const fn route(method: &'static str, path: &'static str) -> Route {
    Route { method, path }
}

/// Every route the component serves. `HEAD` is served wherever `GET` is.
pub const ROUTES: &[Route] = &[
    route("POST", "/auth/register"),
    route("POST", "/auth/login"),
    route("POST", "/auth/login/mfa"),
    route("POST", "/auth/logout"),
    route("GET", "/auth/user/me"),
    route("GET", "/auth/user/sessions"),
    route("DELETE", "/auth/user/sessions"),
    route("DELETE", "/auth/user/sessions/{id}"),
    route("POST", "/auth/user/password"),
    route("GET", "/auth/user/logins"),
    route("POST", "/auth/password/forgot"),
    route("POST", "/auth/password/reset"),
    route("POST", "/auth/email/verify"),
    route("POST", "/auth/email/verify/resend"),
    route("POST", "/auth/user/totp"),
    route("POST", "/auth/user/totp/confirm"),
    route("DELETE", "/auth/user/totp"),
    route("POST", "/auth/user/recovery-codes"),
    route("GET", "/account"),
    route("GET", "/account/reset"),
    route("GET", "/account/verify"),
    route("GET", "/account/assets/account.css"),
    route("GET", "/account/assets/account.js"),
    route("POST", "/auth/user/email"),
    route("POST", "/auth/email/change"),
    route("DELETE", "/auth/user"),
    route("GET", "/auth/user/export"),
    route("GET", "/account/email"),
    route("GET", "/admin/users"),
    route("POST", "/admin/users"),
    route("GET", "/admin/users/{id}"),
    route("PATCH", "/admin/users/{id}"),
    route("DELETE", "/admin/users/{id}"),
    route("POST", "/admin/users/{id}/disable"),
    route("POST", "/admin/users/{id}/enable"),
    route("GET", "/admin/users/{id}/sessions"),
    route("DELETE", "/admin/users/{id}/sessions"),
    route("DELETE", "/admin/users/{id}/mfa"),
    route("GET", "/admin/events"),
    route("GET", "/healthz"),
    route("GET", "/readyz"),
];

/// The prefix of the operators' routes: a host may serve them on a listener of its own.
pub const ADMIN_PREFIX: &str = "/admin";

/// Whether a path is one of the operators' routes (`/admin` or below it).
pub fn is_admin(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/admin/")
}

/// The `{id}` a path gives a template, or None when the path does not fit it.
pub fn fit<'p>(template: &str, path: &'p str) -> Option<Option<&'p str>> {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    let mut id = None;
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(id),
            (Some("{id}"), Some(seg)) if !seg.is_empty() => id = Some(seg),
            (Some(a), Some(b)) if a == b => {}
            _ => return None,
        }
    }
}

/// The template a path falls under, for labels that must stay few (metrics).
pub fn template(path: &str) -> Option<&'static str> {
    ROUTES.iter().find(|r| fit(r.path, path).is_some()).map(|r| r.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fit_whole_segments() {
        assert_eq!(fit("/auth/user/sessions/{id}", "/auth/user/sessions/abc"), Some(Some("abc")));
        assert_eq!(fit("/auth/user/sessions/{id}", "/auth/user/sessions/"), None);
        assert_eq!(fit("/auth/user/sessions/{id}", "/auth/user/sessions/a/b"), None);
        assert_eq!(fit("/auth/user/sessions", "/auth/user/sessions"), Some(None));
        assert_eq!(fit("/auth/user/sessions", "/auth/user/sessions/"), None);
        assert_eq!(template("/auth/user/sessions/xyz"), Some("/auth/user/sessions/{id}"));
        assert_eq!(template("/wp-admin"), None);
    }
}
