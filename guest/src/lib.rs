//! The asm auth component: session-based authentication as a `wasi:http` handler.
//!
//! The logic is plain Rust that runs natively in unit tests:
//! - [`handle`] routes a request to its handler in [`routes`];
//! - [`store::Host`] is everything the component imports (user store, session store, geo,
//!   clock, randomness); `component.rs` implements it with the WIT imports of `wit/asm.wit`;
//! - [`envelope`] is the one place an error becomes a response;
//! - [`validation`], [`password`], [`token`], [`device`] and [`client`] are the pure pieces;
//! - [`config::Settings`] comes from environment variables, the same on every host.

pub mod client;
pub mod config;
pub mod csrf;
pub mod device;
pub mod envelope;
pub mod http;
pub mod password;
pub mod routes;
pub mod store;
pub mod token;
pub mod validation;

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod tests;

use envelope::ApiError;
use http::{Request, Response};
use routes::Ctx;

/// Serves one request.
pub fn handle<H: store::Host + ?Sized>(req: &Request, host: &H, settings: &config::Settings) -> Response {
    let cx = Ctx { req, host, settings };
    let result = match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/auth/register") => routes::register(&cx),
        ("POST", "/auth/login") => routes::login(&cx),
        ("POST", "/auth/logout") => routes::logout(&cx),
        ("GET", "/auth/user/me") => routes::me(&cx),
        ("GET", "/auth/user/sessions") => routes::sessions(&cx),
        ("DELETE", "/auth/user/sessions") => routes::revoke_other_sessions(&cx),
        ("DELETE", path) if session_id(path).is_some() => {
            routes::revoke_session(&cx, session_id(path).unwrap_or_default())
        }
        ("POST", "/auth/user/password") => routes::change_password(&cx),
        ("GET", "/auth/user/logins") => routes::logins(&cx),
        ("GET", "/healthz") => routes::healthz(),
        ("GET", "/readyz") => routes::readyz(&cx),
        (_, path) if settings.fault_routes && path.starts_with("/__fault/") => fault(path),
        (_, path) => match allowed_methods(path) {
            Some(allow) => Err(ApiError::MethodNotAllowed(allow.join(", "))),
            None => Err(ApiError::NotFound),
        },
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// Every route the component serves, as (method, path template); docs/openapi.yaml lists the
/// same (a test keeps them in step).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/user/me"),
    ("GET", "/auth/user/sessions"),
    ("DELETE", "/auth/user/sessions"),
    ("DELETE", "/auth/user/sessions/{id}"),
    ("POST", "/auth/user/password"),
    ("GET", "/auth/user/logins"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
];

/// The `{id}` of `/auth/user/sessions/{id}`.
fn session_id(path: &str) -> Option<&str> {
    path.strip_prefix("/auth/user/sessions/").filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The route template a path falls under, if any.
fn template(path: &str) -> Option<&'static str> {
    if session_id(path).is_some() {
        return Some("/auth/user/sessions/{id}");
    }
    ROUTES.iter().map(|(_, p)| *p).find(|p| *p == path)
}

/// The methods a known path accepts, for a 405's `Allow` header.
fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    let t = template(path)?;
    Some(ROUTES.iter().filter(|(_, p)| *p == t).map(|(m, _)| *m).collect())
}

/// Misbehaviour on purpose, for the host's isolation tests; only with `ASM_FAULT_ROUTES=1`.
fn fault(path: &str) -> Result<Response, ApiError> {
    match path {
        "/__fault/trap" => panic!("fault route: trap"),
        "/__fault/loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "/__fault/alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        _ => Err(ApiError::NotFound),
    }
}
