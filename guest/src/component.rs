//! The thin wasm layer: wasi-http in and out, and `store::Host` on the WIT imports.

use crate::config::{SettingError, Settings};
use crate::http::{Body, MAX_BODY_BYTES, Request, Response};
use crate::store::{self, StoreResult};
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
    },
});

use asm::auth::{geo, session_store, types as wit, user_store};

struct Component;
export!(Component);

impl exports::wasi::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let response = match settings() {
            Ok(settings) => crate::handle(&read_request(request), &Imports, settings),
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

/// Bodies beyond the limit are still read (and dropped) up to this size, so the client finishes
/// sending and sees the 413 instead of a broken connection.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// Keeps at most `MAX_BODY_BYTES`; anything longer makes the body `TooLarge`.
fn read_body(request: &IncomingRequest) -> Body {
    let Ok(body) = request.consume() else { return Body::Empty };
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    {
        let Ok(stream) = body.stream() else { return Body::Empty };
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    seen += chunk.len();
                    if seen <= MAX_BODY_BYTES {
                        bytes.extend_from_slice(&chunk);
                    } else if seen > DRAIN_LIMIT {
                        break;
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return Body::Empty,
            }
        }
    }
    let _ = IncomingBody::finish(body);
    if seen > MAX_BODY_BYTES {
        Body::TooLarge
    } else if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Bytes(bytes)
    }
}

fn write_response(out: ResponseOutparam, response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response.headers.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(fields);
    let _ = outgoing.set_status_code(response.status);
    let body = outgoing.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(outgoing));
    {
        let stream = body.write().expect("a new body has a stream");
        for chunk in response.body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

/// `store::Host` on the component's imports.
struct Imports;

impl store::Host for Imports {
    fn create_user(&self, u: store::NewUser) -> StoreResult<store::User> {
        let new = wit::NewUser {
            email: u.email,
            username: u.username,
            full_name: u.full_name,
            password_hash: u.password_hash,
        };
        user_store::create_user(&new).map(user_from).map_err(error_from)
    }
    fn find_user_by_email(&self, email: &str) -> StoreResult<Option<store::User>> {
        user_store::find_user_by_email(email).map(|u| u.map(user_from)).map_err(error_from)
    }
    fn find_user_by_id(&self, id: &str) -> StoreResult<Option<store::User>> {
        user_store::find_user_by_id(id).map(|u| u.map(user_from)).map_err(error_from)
    }
    fn record_login(&self, user_id: &str, at: i64) -> StoreResult<()> {
        user_store::record_login(user_id, at).map_err(error_from)
    }
    fn update_password(&self, user_id: &str, password_hash: &str) -> StoreResult<()> {
        user_store::update_password(user_id, password_hash).map_err(error_from)
    }
    fn record_login_attempt(&self, a: store::LoginAttempt) -> StoreResult<()> {
        let attempt = wit::LoginAttempt {
            id: a.id,
            user_id: a.user_id,
            outcome: a.outcome,
            ip_address: a.ip_address,
            user_agent: a.user_agent,
            device_info: a.device_info,
            location: a.location,
            at: a.at,
        };
        user_store::record_login_attempt(&attempt).map_err(error_from)
    }
    fn list_login_attempts(&self, user_id: &str, offset: u32, limit: u32) -> StoreResult<store::LoginPage> {
        let page = user_store::list_login_attempts(user_id, offset, limit).map_err(error_from)?;
        let attempts = page
            .attempts
            .into_iter()
            .map(|a| store::LoginAttempt {
                id: a.id,
                user_id: a.user_id,
                outcome: a.outcome,
                ip_address: a.ip_address,
                user_agent: a.user_agent,
                device_info: a.device_info,
                location: a.location,
                at: a.at,
            })
            .collect();
        Ok(store::LoginPage { attempts, total: page.total })
    }
    fn ping_users(&self) -> StoreResult<()> {
        user_store::ping().map_err(error_from)
    }
    fn create_session(&self, s: store::Session, max_sessions: u32) -> StoreResult<Vec<String>> {
        session_store::create_session(&session_to(s), max_sessions).map_err(error_from)
    }
    fn touch_session(&self, token_hash: &str, at: i64, keep_until: i64) -> StoreResult<bool> {
        session_store::touch_session(token_hash, at, keep_until).map_err(error_from)
    }
    fn delete_other_sessions(&self, user_id: &str, keep_token_hash: &str) -> StoreResult<u32> {
        session_store::delete_other_sessions(user_id, keep_token_hash).map_err(error_from)
    }
    fn uncount_attempt(&self, key: &str) -> StoreResult<()> {
        session_store::uncount_attempt(key).map_err(error_from)
    }
    fn get_session(&self, token_hash: &str) -> StoreResult<Option<store::Session>> {
        session_store::get_session(token_hash).map(|s| s.map(session_from)).map_err(error_from)
    }
    fn delete_session(&self, user_id: &str, token_hash: &str) -> StoreResult<bool> {
        session_store::delete_session(user_id, token_hash).map_err(error_from)
    }
    fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<store::Session>> {
        session_store::list_sessions(user_id).map(|l| l.into_iter().map(session_from).collect()).map_err(error_from)
    }
    fn count_attempt(&self, key: &str, window_ms: u64) -> StoreResult<store::Attempts> {
        session_store::count_attempt(key, window_ms)
            .map(|a| store::Attempts { count: a.count, retry_after_ms: a.retry_after_ms })
            .map_err(error_from)
    }
    fn reset_attempts(&self, key: &str) -> StoreResult<()> {
        session_store::reset_attempts(key).map_err(error_from)
    }
    fn ping_sessions(&self) -> StoreResult<()> {
        session_store::ping().map_err(error_from)
    }
    fn geo_lookup(&self, ip: &str) -> Option<store::GeoLocation> {
        geo::lookup(ip).map(|l| store::GeoLocation { city: l.city, country: l.country, country_code: l.country_code })
    }
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_millis() as i64
    }
    fn random_bytes(&self, len: usize) -> Vec<u8> {
        wasip2::random::random::get_random_bytes(len as u64)
    }
}

fn user_from(u: wit::User) -> store::User {
    store::User {
        id: u.id,
        email: u.email,
        username: u.username,
        full_name: u.full_name,
        password_hash: u.password_hash,
        created_at: u.created_at,
        last_login: u.last_login,
    }
}

fn session_to(s: store::Session) -> wit::Session {
    let d = s.device;
    wit::Session {
        id: s.id,
        token_hash: s.token_hash,
        user_id: s.user_id,
        ip_address: s.ip_address,
        user_agent: s.user_agent,
        device: wit::Device {
            browser: d.browser,
            browser_version: d.browser_version,
            os: d.os,
            os_version: d.os_version,
            category: d.category,
            summary: d.summary,
        },
        location: s.location,
        created_at: s.created_at,
        last_activity: s.last_activity,
        expires_at: s.expires_at,
    }
}

fn session_from(s: wit::Session) -> store::Session {
    let d = s.device;
    store::Session {
        id: s.id,
        token_hash: s.token_hash,
        user_id: s.user_id,
        ip_address: s.ip_address,
        user_agent: s.user_agent,
        device: store::Device {
            browser: d.browser,
            browser_version: d.browser_version,
            os: d.os,
            os_version: d.os_version,
            category: d.category,
            summary: d.summary,
        },
        location: s.location,
        created_at: s.created_at,
        last_activity: s.last_activity,
        expires_at: s.expires_at,
    }
}

fn error_from(e: wit::StoreError) -> store::StoreError {
    match e {
        wit::StoreError::Conflict(f) => store::StoreError::Conflict(f),
        wit::StoreError::Unavailable(d) => store::StoreError::Unavailable(d),
        wit::StoreError::Internal(d) => store::StoreError::Internal(d),
    }
}
