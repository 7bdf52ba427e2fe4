//! The whole router, `asm_guest::handle`, on sequences of arbitrary requests against the
//! in-memory reference store, which starts with one user and one live session. Requests are built from
//! structured choices (known methods, routes, headers, bodies, the seeded or the latest
//! token) with arbitrary text wherever the service reads text, so every route is reached.
//!
//! Besides never panicking, every response must be a JSON envelope whose `status` is the HTTP
//! status, never a 500, a 503 only while the store is down, a 405 with `Allow`; an
//! authenticated route answers 2xx only to a token of a session that was live; and a login
//! creates a session exactly when it answers 200, setting a well-formed token as the cookie.
//! Passwords are hashed with Argon2id at tiny parameters so password routes stay cheap.
#![no_main]

use arbitrary::Arbitrary;
use asm_contract::*;
use asm_guest::auth::{bearer_token, cookie_value};
use asm_guest::config::{PasswordHashing, Settings};
use asm_guest::http::{self, Request};
use asm_guest::token::{self, SessionToken};
use asm_guest::testing::FakeSystem;
use asm_guest::{Host, System, password};
use asm_stores::keyring::SecretKeys;
use asm_stores::memory::MemoryStore;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

const EMAIL: &str = "alice@example.com";
const USERNAME: &str = "alice";
const PASSWORD: &str = "correct horse battery";
/// Cheap hashing: the fuzzer is after the logic, not the hash.
const HASHING: PasswordHashing = PasswordHashing::Argon2id { memory_kib: 64, iterations: 1, parallelism: 1 };
const START_MS: i64 = 1_700_000_000_000;
const MAX_REQUESTS: usize = 8;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    settings: u8,
    requests: Vec<Req<'a>>,
}

#[derive(Arbitrary, Debug)]
struct Req<'a> {
    /// How far the clock moves before the request (sessions expire, go idle, get touched).
    advance_ms: u32,
    store_down: bool,
    method: Method<'a>,
    path: Path<'a>,
    query: Option<&'a str>,
    auth: Auth<'a>,
    headers: Vec<(Header<'a>, &'a [u8])>,
    body: Body<'a>,
}

#[derive(Arbitrary, Debug)]
enum Method<'a> {
    Get,
    Post,
    Delete,
    Put,
    Patch,
    Head,
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Path<'a> {
    Register,
    Login,
    Logout,
    Me,
    Sessions,
    Session(Ref<'a>),
    Password,
    Logins,
    Healthz,
    Readyz,
    Raw(&'a str),
}

/// A token or a session id: the seeded session's, the latest created one's, or any text.
#[derive(Arbitrary, Debug)]
enum Ref<'a> {
    Seeded,
    Latest,
    Raw(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Auth<'a> {
    None,
    Cookie(Ref<'a>),
    Bearer(Ref<'a>),
    Both { bearer: Ref<'a>, cookie: Ref<'a> },
    Authorization(&'a [u8]),
    CookieHeader(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
enum Header<'a> {
    Host,
    Origin,
    SecFetchSite,
    UserAgent,
    XForwardedFor,
    ClientAddr,
    ContentType,
    Cookie,
    Authorization,
    Raw(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Body<'a> {
    Empty,
    TooLarge,
    Raw(&'a [u8]),
    Register { email: Known<'a>, username: Known<'a>, password: Known<'a>, full_name: &'a str },
    Login { email: Known<'a>, password: Known<'a> },
    Change { current: Known<'a>, new: Known<'a> },
}

/// The seeded account's value for the field, a valid new one (so registrations and password
/// changes can succeed), or any text.
#[derive(Arbitrary, Debug)]
enum Known<'a> {
    Seeded,
    Fresh(u8),
    Other(&'a str),
}

impl Known<'_> {
    fn or(&self, seeded: &str) -> String {
        match self {
            Known::Seeded => seeded.to_string(),
            Known::Fresh(n) if seeded == EMAIL => format!("user{n}@example.com"),
            Known::Fresh(n) if seeded == USERNAME => format!("user{n}"),
            Known::Fresh(n) => format!("fresh password {n}"),
            Known::Other(s) => s.to_string(),
        }
    }
}

fuzz_target!(|input: Input| {
    let settings = settings(input.settings);
    let host = Fixture::seeded();
    for req in input.requests.iter().take(MAX_REQUESTS) {
        host.system.advance(i64::from(req.advance_ms));
        host.store.set_unavailable(req.store_down);
        let request = build(req, &host);
        let live_before: Vec<String> = host.live_hashes();
        let sessions_before = host.store.stored_sessions().len();
        let resp = complete(asm_guest::handle(&request, &host.host(), &settings));
        check(req, &request, &resp, &live_before, sessions_before, &host);
        if trace() {
            eprintln!("trace: {} {} -> {}", request.method, request.path, resp.status);
        }
        if let Some(token) = issued_token(&resp) {
            *host.latest_token.lock().unwrap() = token;
        }
    }
});

/// `ASM_FUZZ_TRACE=1` prints each request's method, path and status, to see which routes and
/// outcomes a corpus reaches: `ASM_FUZZ_TRACE=1 fuzz/target/*/release/handle -runs=0 fuzz/corpus/handle`.
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("ASM_FUZZ_TRACE").is_some_and(|v| v == "1"))
}

fn settings(bits: u8) -> Settings {
    let mut s = Settings { password_hashing: HASHING, ..Settings::default() };
    if bits & 1 != 0 {
        s.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
    }
    if bits & 2 != 0 {
        s.session_idle_timeout = Some(Duration::from_secs(30 * 60));
    }
    if bits & 4 != 0 {
        s.max_sessions_per_user = 2;
    }
    if bits & 8 != 0 {
        s.password_change_ends_sessions = false;
    }
    if bits & 16 != 0 {
        s.allowed_origins = vec!["https://app.example.com".into()];
    }
    if bits & 32 != 0 {
        s.cookie_secure = true;
    }
    if bits & 64 != 0 {
        s.login_max_attempts = 1;
        s.login_ip_max_attempts = 2;
    }
    s
}

fn build(r: &Req, host: &Fixture) -> Request {
    let method = match r.method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Delete => "DELETE",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Head => "HEAD",
        Method::Other(m) => m,
    };
    let path = match &r.path {
        Path::Register => "/auth/register".to_string(),
        Path::Login => "/auth/login".to_string(),
        Path::Logout => "/auth/logout".to_string(),
        Path::Me => "/auth/user/me".to_string(),
        Path::Sessions => "/auth/user/sessions".to_string(),
        Path::Session(id) => format!("/auth/user/sessions/{}", host.session_id(id)),
        Path::Password => "/auth/user/password".to_string(),
        Path::Logins => "/auth/user/logins".to_string(),
        Path::Healthz => "/healthz".to_string(),
        Path::Readyz => "/readyz".to_string(),
        Path::Raw(p) => p.to_string(),
    };
    let target = match r.query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut req = Request::new(method, &target);
    match &r.auth {
        Auth::None => {}
        Auth::Cookie(t) => req = req.header("cookie", format!("theme=dark; session_token={}", host.token(t))),
        Auth::Bearer(t) => req = req.header("authorization", format!("Bearer {}", host.token(t))),
        Auth::Both { bearer, cookie } => {
            req = req
                .header("authorization", format!("Bearer {}", host.token(bearer)))
                .header("cookie", format!("session_token={}", host.token(cookie)));
        }
        Auth::Authorization(v) => req = req.header("authorization", v),
        Auth::CookieHeader(v) => req = req.header("cookie", v),
    }
    for (name, value) in r.headers.iter().take(8) {
        let name = match name {
            Header::Host => "host",
            Header::Origin => "origin",
            Header::SecFetchSite => "sec-fetch-site",
            Header::UserAgent => "user-agent",
            Header::XForwardedFor => "x-forwarded-for",
            Header::ClientAddr => "spin-client-addr",
            Header::ContentType => "content-type",
            Header::Cookie => "cookie",
            Header::Authorization => "authorization",
            Header::Raw(n) => n,
        };
        req = req.header(name, value);
    }
    match &r.body {
        Body::Empty => {}
        Body::TooLarge => req.body = http::Body::TooLarge,
        Body::Raw(b) => req = req.body(b.to_vec()),
        Body::Register { email, username, password, full_name } => {
            let v = json!({ "email": email.or(EMAIL), "username": username.or(USERNAME),
                            "password": password.or(PASSWORD), "full_name": full_name });
            req = req.body(v.to_string());
        }
        Body::Login { email, password } => {
            req = req.body(json!({ "email": email.or(EMAIL), "password": password.or(PASSWORD) }).to_string());
        }
        Body::Change { current, new } => {
            let v = json!({ "current_password": current.or(PASSWORD), "new_password": new.or(PASSWORD) });
            req = req.body(v.to_string());
        }
    }
    req
}

fn check(
    r: &Req,
    req: &Request,
    resp: &http::Response,
    live_before: &[String],
    sessions_before: usize,
    host: &Fixture,
) {
    let status = resp.status;
    assert!(
        matches!(status, 200 | 201 | 400 | 401 | 403 | 404 | 405 | 409 | 413 | 429 | 503),
        "unexpected status {status} for {req:?}"
    );
    assert!(status != 503 || r.store_down, "503 with the store up for {req:?}");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    if status == 405 {
        assert!(resp.header("allow").is_some_and(|a| !a.is_empty()), "405 without Allow");
    }
    // HEAD is answered as GET without the body.
    if req.method == "HEAD" {
        assert!(resp.body.is_empty(), "a body in the answer to HEAD for {req:?}");
        return;
    }
    let v: Value = serde_json::from_slice(&resp.body).expect("every body is JSON");
    assert_eq!(v["status"], status, "envelope status differs from HTTP status");
    assert!(v["message"].is_string());

    let authenticated = matches!(
        req.path.as_str(),
        "/auth/logout" | "/auth/user/me" | "/auth/user/sessions" | "/auth/user/password" | "/auth/user/logins"
    ) || req.path.starts_with("/auth/user/sessions/");
    if authenticated && (200..300).contains(&status) {
        let presented = [bearer_token(req), cookie_value(req, "session_token")];
        assert!(
            presented
                .iter()
                .flatten()
                .filter_map(|t| SessionToken::parse(t))
                .any(|t| live_before.contains(&t.hash().into_string())),
            "{status} on {} without the token of a live session: {req:?}",
            req.path
        );
    }
    if req.method == "POST" && req.path == "/auth/login" {
        let stored = host.store.stored_sessions();
        if status == 200 {
            let t = issued_token(resp).expect("a login sets the session cookie");
            let t = SessionToken::parse(&t).expect("a well-formed token");
            assert!(stored.iter().any(|s| s.token_hash == t.hash().as_str()), "the cookie names no session");
        } else {
            assert_eq!(stored.len(), sessions_before, "a refused login changed the sessions");
            assert!(resp.header("set-cookie").is_none(), "a refused login set a cookie");
        }
    }
}

/// The token a response sets as the session cookie, if any (not a clearing one).
fn issued_token(resp: &http::Response) -> Option<String> {
    let value = resp.cookie("session_token")?;
    (!value.is_empty()).then(|| value.to_string())
}

/// The reference store, a clock the input moves, and randomness from a counter.
struct Fixture {
    store: MemoryStore,
    keys: SecretKeys,
    system: FakeSystem,
    latest_token: std::sync::Mutex<String>,
    seeded_token: String,
    latest_session: std::sync::Mutex<String>,
}

fn seeded_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| password::hash(PASSWORD, HASHING).expect("a hash"))
}

/// The seeded session's token: its user's routing tag, then fixed bytes.
fn seeded_token(user_id: &str) -> String {
    let mut bytes = asm_contract::route_bytes(user_id).to_vec();
    bytes.extend([0x5a; token::SECRET_BYTES]);
    token::encode(&bytes)
}

impl Fixture {
    fn seeded() -> Fixture {
        let system = FakeSystem::starting_at(START_MS);
        let store = MemoryStore::with_clock(system.clock());
        let new = NewUser {
            email: EMAIL.into(),
            username: USERNAME.into(),
            full_name: "Alice".into(),
            password_hash: seeded_hash().to_string(),
        };
        let user = complete(store.create_user(new)).expect("the seeded user");
        let token = seeded_token(&user.id);
        let session = Session {
            id: "s0".into(),
            token_hash: SessionToken::parse(&token).expect("well formed").hash().into_string(),
            user_id: user.id.clone(),
            ip_address: "127.0.0.1".into(),
            user_agent: String::new(),
            device: Default::default(),
            location: "Local".into(),
            created_at: START_MS,
            last_activity: START_MS,
            expires_at: START_MS + 24 * 3600 * 1000,
            mfa: false,
        };
        let profile = UserProfile::from(&user);
        complete(store.create_session(session, profile, 0, 0)).expect("the seeded session");
        Fixture {
            store,
            keys: SecretKeys::parse(&SecretKeys::encode(&[3; 32]), "").expect("a valid key"),
            system,
            latest_token: std::sync::Mutex::new(token.clone()),
            seeded_token: token,
            latest_session: std::sync::Mutex::new("s0".into()),
        }
    }

    fn host(&self) -> Host<'_> {
        Host {
            users: &self.store,
            sessions: &self.store,
            geo: &NoGeo,
            keyring: &self.keys,
            mailer: &self.store,
            events: &self.store,
            hashing: &Unbounded,
            system: &self.system,
        }
    }

    fn token(&self, r: &Ref) -> String {
        match r {
            Ref::Seeded => self.seeded_token.clone(),
            Ref::Latest => self.latest_token.lock().unwrap().clone(),
            Ref::Raw(s) => s.to_string(),
        }
    }

    fn session_id(&self, r: &Ref) -> String {
        match r {
            Ref::Seeded => "s0".into(),
            Ref::Latest => self.latest_session.lock().unwrap().clone(),
            Ref::Raw(s) => s.to_string(),
        }
    }

    /// Hashes of the sessions the service should still accept.
    fn live_hashes(&self) -> Vec<String> {
        let now = self.system.now_ms();
        self.store.stored_sessions().into_iter().filter(|s| s.expires_at > now).map(|s| s.token_hash).collect()
    }
}
