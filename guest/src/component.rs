//! The thin wasm layer: wasi-http in and out, and the [`Host`] built from the WIT imports. The
//! records are `asm_contract`'s own types (wit-bindgen `with`), and the store traits are
//! implemented by forwarding each operation of `asm_contract::with_store_operations!` to its
//! import, so nothing here changes when an operation is added.

use crate::config::{SettingError, Settings};
use crate::host::{Host, Os};
use crate::http::{Body, MAX_BODY_BYTES, Request, Response};
use asm_contract::*;
use std::sync::OnceLock;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

wit_bindgen::generate!({
    path: "../wit",
    world: "asm:auth/auth",
    with: {
        "wasi:http/types@0.2.4": wasip2::http::types,
        "wasi:io/streams@0.2.4": wasip2::io::streams,
        "wasi:io/error@0.2.4": wasip2::io::error,
        "wasi:io/poll@0.2.4": wasip2::io::poll,
        "wasi:clocks/monotonic-clock@0.2.4": wasip2::clocks::monotonic_clock,
        "asm:auth/types@0.1.0": asm_contract::types,
    },
});

use asm::auth::{events, geo, hashing, keyring, mailer, session_store, user_store};

struct Component;
export!(Component);

impl exports::wasi::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let response = match settings() {
            Ok(settings) => {
                let host = Host {
                    users: &Imports,
                    sessions: &Imports,
                    geo: &Imports,
                    keyring: &Imports,
                    mailer: &Imports,
                    events: &Imports,
                    hashing: &Imports,
                    system: &Os,
                };
                // Every import answers before it returns, so the logic never waits.
                complete(crate::handle(&read_request(request), &host, settings))
            }
            Err(e) => {
                eprintln!("configuration error: {e}");
                crate::envelope::error(500, "Internal server error", "service misconfigured".into())
            }
        };
        write_response(out, response);
    }
}

/// Settings are read once per instance; a host that reuses instances pays once.
fn settings() -> &'static Result<Settings, SettingError> {
    static SETTINGS: OnceLock<Result<Settings, SettingError>> = OnceLock::new();
    SETTINGS.get_or_init(Settings::from_env)
}

/// The stores and GeoIP of the host, through the imports.
struct Imports;

macro_rules! forward_to_imports {
    ($($(#[$trait_doc:meta])* $module:ident $Trait:ident $label:literal {
        $($(#[$doc:meta])* fn $op:ident($($arg:ident: $ty:ident),*) -> $ret:ty;)*
    })*) => {$(
        #[async_trait::async_trait]
        impl $Trait for Imports {
            $(
                async fn $op(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    $module::$op($($arg.lend()),*)
                }
            )*
        }
    )*};
}

with_store_operations!(forward_to_imports);

impl Geo for Imports {
    fn lookup(&self, ip: &str) -> Option<Location> {
        geo::lookup(ip)
    }
}

impl Keyring for Imports {
    fn sign(&self, purpose: &str, message: &[u8]) -> Vec<u8> {
        keyring::sign(purpose, message)
    }

    fn verify(&self, purpose: &str, message: &[u8], tag: &[u8]) -> bool {
        keyring::verify(purpose, message, tag)
    }

    fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        keyring::seal(purpose, plaintext)
    }

    fn open(&self, purpose: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        keyring::open(purpose, sealed)
    }
}

impl Hashing for Imports {
    fn begin(&self) -> bool {
        hashing::begin()
    }

    fn end(&self) {
        hashing::end()
    }
}

fn read_request(request: IncomingRequest) -> Request {
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(m) => m,
    };
    let mut req = Request::new(&method, &request.path_with_query().unwrap_or_else(|| "/".into()));
    req.headers = request.headers().entries().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    if req.header_str("host").is_none()
        && let Some(authority) = request.authority()
    {
        req.headers.push(("host".into(), authority.into_bytes()));
    }
    req.body = read_body(&request);
    req
}

use asm_contract::http::DRAIN_LIMIT;

/// Keeps one byte more than `MAX_BODY_BYTES` at most: enough to know the body is too large.
fn read_body(request: &IncomingRequest) -> Body {
    let Ok(body) = request.consume() else { return Body::Empty };
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    {
        let Ok(stream) = body.stream() else { return Body::Empty };
        while seen <= DRAIN_LIMIT {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    seen += chunk.len();
                    let room = (MAX_BODY_BYTES + 1).saturating_sub(bytes.len());
                    bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return Body::Empty,
            }
        }
    }
    let _ = IncomingBody::finish(body);
    Body::from_bytes(bytes)
}

fn write_response(out: ResponseOutparam, response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response.headers.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    let body = outgoing.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(outgoing));
    {
        // As much as the host takes at once (wasmtime and Spin take a whole page or envelope),
        // then one flush: a body written in 4 KiB flushes goes out as several small TCP writes,
        // which a server without TCP_NODELAY holds back for the client's delayed ACK.
        let stream = body.write().expect("a new body has a stream");
        let mut rest = response.body.as_slice();
        while !rest.is_empty() {
            let n = match stream.check_write() {
                Ok(0) => {
                    stream.subscribe().block();
                    continue;
                }
                Ok(permit) => rest.len().min(usize::try_from(permit).unwrap_or(usize::MAX)),
                Err(_) => return,
            };
            if stream.write(&rest[..n]).is_err() {
                return;
            }
            rest = &rest[n..];
        }
        if stream.blocking_flush().is_err() {
            return;
        }
    }
    let _ = OutgoingBody::finish(body, None);
}
