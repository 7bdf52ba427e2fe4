//! The asm auth component: session-based authentication as a `wasi:http` handler.
//!
//! The logic is plain Rust that also runs natively (unit tests, the benchmark baseline):
//! - [`handle`] serves one request: [`routes`] holds the route table and one module per
//!   capability (registration, sign-in (`routes::signin`: every way into a session, the lock-out),
//!   sessions, account, password, recovery, TOTP settings, health);
//! - [`auth`] turns a request's credential into the [`auth::Caller`] it authenticates;
//! - [`Host`] is everything the component gets from whoever runs it: the stores and GeoIP of
//!   `wit/asm.wit` (traits of `asm_contract`) and a clock and randomness ([`System`]);
//!   `component.rs` is the thin wasm layer that supplies them from the imports;
//! - [`envelope`] is the one place an error becomes a response;
//! - [`validation`], [`password`], [`token`], [`device`], [`client`] and [`csrf`] are the
//!   pure pieces; [`config::Settings`] comes from environment variables, the same on every host.

pub mod auth;
pub mod client;
pub mod csrf;
pub mod device;
pub mod envelope;
pub mod host;
pub mod http;
pub mod mail;
pub mod password;
pub mod routes;
pub mod token;
pub mod totp;
pub mod validation;

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod tests;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use asm_settings as config;
pub use host::{Host, Os, System};

/// Serves one request. A `HEAD` request gets what `GET` would, without the body.
pub async fn handle(req: &http::Request, host: &Host<'_>, settings: &config::Settings) -> http::Response {
    let cx = routes::Ctx { req, host, settings };
    let mut response = routes::serve(&cx).await.unwrap_or_else(envelope::ApiError::into_response);
    if req.method == "HEAD" {
        response.body.clear();
    }
    response
}
