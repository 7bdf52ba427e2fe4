//! The benchmark baseline: the same auth logic (`asm_guest`), compiled natively and called by
//! the same server and stores without wasm. Not for production: it gives up the per-request
//! isolation that is the point of the component. Selected with `--engine native`.

use crate::stores::{self, Stores};
use asm_guest::config::Settings;
use asm_guest::http::{Body, MAX_BODY_BYTES, Request, Response};
use asm_guest::store::{self as guest, StoreResult};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use std::sync::Arc;
use tokio::runtime::Handle;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Beyond the limit, bodies are still drained up to this size so the client sees the 413.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

pub struct NativeRuntime {
    stores: Arc<Stores>,
    settings: Arc<Settings>,
}

impl NativeRuntime {
    pub fn new(stores: Arc<Stores>, settings: Settings) -> Self {
        NativeRuntime { stores, settings: Arc::new(settings) }
    }

    pub async fn handle(&self, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<HyperOutgoingBody> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut request = Request::new(parts.method.as_str(), path);
        request.headers =
            parts.headers.iter().map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_bytes().to_vec())).collect();
        request.body = read_body(body).await;
        let host = NativeHost { stores: self.stores.clone(), rt: Handle::current() };
        let settings = self.settings.clone();
        // The logic is synchronous and calls the async stores by blocking on them, so it runs
        // on the blocking pool, as a wasm instance runs on its own fiber.
        let response = tokio::task::spawn_blocking(move || asm_guest::handle(&request, &host, &settings))
            .await
            .unwrap_or_else(|e| asm_guest::envelope::error(500, "Internal server error", format!("{e}").into()));
        to_hyper(response)
    }
}

async fn read_body(mut body: hyper::body::Incoming) -> Body {
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Body::Empty };
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= MAX_BODY_BYTES {
                bytes.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        Body::TooLarge
    } else if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Bytes(bytes)
    }
}

fn to_hyper(r: Response) -> hyper::Response<HyperOutgoingBody> {
    let mut builder = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(Full::new(Bytes::from(r.body)).map_err(|never| match never {}).boxed_unsync())
        .unwrap_or_else(|_| crate::runtime::envelope_response(500, "Internal server error", "bad response"))
}

struct NativeHost {
    stores: Arc<Stores>,
    rt: Handle,
}

fn user_from(u: stores::User) -> guest::User {
    guest::User {
        id: u.id,
        email: u.email,
        username: u.username,
        full_name: u.full_name,
        password_hash: u.password_hash,
        created_at: u.created_at,
        last_login: u.last_login,
    }
}

fn session_from(s: stores::Session) -> guest::Session {
    let d = s.device;
    guest::Session {
        id: s.id,
        token_hash: s.token_hash,
        user_id: s.user_id,
        ip_address: s.ip_address,
        user_agent: s.user_agent,
        device: guest::Device {
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

fn session_to(s: guest::Session) -> stores::Session {
    let d = s.device;
    stores::Session {
        id: s.id,
        token_hash: s.token_hash,
        user_id: s.user_id,
        ip_address: s.ip_address,
        user_agent: s.user_agent,
        device: stores::Device {
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

fn attempt_from(a: stores::LoginAttempt) -> guest::LoginAttempt {
    guest::LoginAttempt {
        id: a.id,
        user_id: a.user_id,
        outcome: a.outcome,
        ip_address: a.ip_address,
        user_agent: a.user_agent,
        device_info: a.device_info,
        location: a.location,
        at: a.at,
    }
}

fn err(e: stores::StoreError) -> guest::StoreError {
    match e {
        stores::StoreError::Conflict(f) => guest::StoreError::Conflict(f),
        stores::StoreError::Unavailable(d) => guest::StoreError::Unavailable(d),
        stores::StoreError::Internal(d) => guest::StoreError::Internal(d),
    }
}

impl guest::Host for NativeHost {
    fn create_user(&self, u: guest::NewUser) -> StoreResult<guest::User> {
        let new = stores::NewUser {
            email: u.email,
            username: u.username,
            full_name: u.full_name,
            password_hash: u.password_hash,
        };
        self.rt.block_on(self.stores.users.create_user(new)).map(user_from).map_err(err)
    }
    fn find_user_by_email(&self, email: &str) -> StoreResult<Option<guest::User>> {
        self.rt.block_on(self.stores.users.find_user_by_email(email)).map(|u| u.map(user_from)).map_err(err)
    }
    fn find_user_by_id(&self, id: &str) -> StoreResult<Option<guest::User>> {
        self.rt.block_on(self.stores.users.find_user_by_id(id)).map(|u| u.map(user_from)).map_err(err)
    }
    fn record_login(&self, user_id: &str, at: i64) -> StoreResult<()> {
        self.rt.block_on(self.stores.users.record_login(user_id, at)).map_err(err)
    }
    fn update_password(&self, user_id: &str, hash: &str) -> StoreResult<()> {
        self.rt.block_on(self.stores.users.update_password(user_id, hash)).map_err(err)
    }
    fn record_login_attempt(&self, a: guest::LoginAttempt) -> StoreResult<()> {
        let attempt = stores::LoginAttempt {
            id: a.id,
            user_id: a.user_id,
            outcome: a.outcome,
            ip_address: a.ip_address,
            user_agent: a.user_agent,
            device_info: a.device_info,
            location: a.location,
            at: a.at,
        };
        self.rt.block_on(self.stores.users.record_login_attempt(attempt)).map_err(err)
    }
    fn list_login_attempts(&self, user_id: &str, offset: u32, limit: u32) -> StoreResult<guest::LoginPage> {
        let page = self.rt.block_on(self.stores.users.list_login_attempts(user_id, offset, limit)).map_err(err)?;
        Ok(guest::LoginPage { attempts: page.attempts.into_iter().map(attempt_from).collect(), total: page.total })
    }
    fn ping_users(&self) -> StoreResult<()> {
        self.rt.block_on(self.stores.users.ping()).map_err(err)
    }
    fn create_session(&self, s: guest::Session, max: u32) -> StoreResult<Vec<String>> {
        self.rt.block_on(self.stores.sessions.create_session(session_to(s), max)).map_err(err)
    }
    fn get_session(&self, token_hash: &str) -> StoreResult<Option<guest::Session>> {
        self.rt.block_on(self.stores.sessions.get_session(token_hash)).map(|s| s.map(session_from)).map_err(err)
    }
    fn touch_session(&self, token_hash: &str, at: i64, keep_until: i64) -> StoreResult<bool> {
        self.rt.block_on(self.stores.sessions.touch_session(token_hash, at, keep_until)).map_err(err)
    }
    fn delete_session(&self, user_id: &str, token_hash: &str) -> StoreResult<bool> {
        self.rt.block_on(self.stores.sessions.delete_session(user_id, token_hash)).map_err(err)
    }
    fn delete_other_sessions(&self, user_id: &str, keep: &str) -> StoreResult<u32> {
        self.rt.block_on(self.stores.sessions.delete_other_sessions(user_id, keep)).map_err(err)
    }
    fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<guest::Session>> {
        self.rt
            .block_on(self.stores.sessions.list_sessions(user_id))
            .map(|l| l.into_iter().map(session_from).collect())
            .map_err(err)
    }
    fn count_attempt(&self, key: &str, window_ms: u64) -> StoreResult<guest::Attempts> {
        self.rt
            .block_on(self.stores.sessions.count_attempt(key, window_ms))
            .map(|a| guest::Attempts { count: a.count, retry_after_ms: a.retry_after_ms })
            .map_err(err)
    }
    fn uncount_attempt(&self, key: &str) -> StoreResult<()> {
        self.rt.block_on(self.stores.sessions.uncount_attempt(key)).map_err(err)
    }
    fn reset_attempts(&self, key: &str) -> StoreResult<()> {
        self.rt.block_on(self.stores.sessions.reset_attempts(key)).map_err(err)
    }
    fn ping_sessions(&self) -> StoreResult<()> {
        self.rt.block_on(self.stores.sessions.ping()).map_err(err)
    }
    fn geo_lookup(&self, ip: &str) -> Option<guest::GeoLocation> {
        self.stores.geo.lookup(ip).map(|p| guest::GeoLocation {
            city: p.city,
            country: p.country,
            country_code: p.country_code,
        })
    }
    fn now_ms(&self) -> i64 {
        stores::now_ms()
    }
    fn random_bytes(&self, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        getrandom::fill(&mut buf).expect("the OS CSPRNG answers");
        buf
    }
}
