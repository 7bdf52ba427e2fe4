//! Route-level tests of the logic against the in-memory reference store.

use crate::config::{PasswordHashing, Settings};
use crate::host::{Host, System as _};
use crate::http::{Body, Request, Response};
use crate::password;
use crate::testing::FakeSystem;
use asm_contract::{NoGeo, Unbounded, UserStore, complete};
use asm_stores::keyring::SecretKeys;
use asm_stores::memory::MemoryStore;
use serde_json::Value;

/// Argon2id, as by default, with parameters small enough for many sign-ins per test.
pub const TEST_HASHING: PasswordHashing = PasswordHashing::Argon2id { memory_kib: 64, iterations: 1, parallelism: 1 };

/// A host whose clock the test moves and whose randomness is a counter.
struct TestHost {
    store: MemoryStore,
    keys: SecretKeys,
    system: FakeSystem,
}

impl TestHost {
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

    fn advance(&self, ms: i64) {
        self.system.advance(ms);
    }

    fn password_hash(&self, email: &str) -> String {
        complete(self.store.find_user_by_email(email.into())).unwrap().unwrap().password_hash
    }
}

fn settings() -> Settings {
    Settings {
        password_hashing: TEST_HASHING,
        public_url: Some("https://auth.example.com".into()),
        public_origin: Some("https://auth.example.com:443".into()),
        ..Settings::default()
    }
}

fn host() -> TestHost {
    let system = FakeSystem::starting_at(1_700_000_000_000);
    let store = MemoryStore::with_clock(system.clock());
    let keys = SecretKeys::parse(&SecretKeys::encode(&[7; 32]), "").unwrap();
    TestHost { store, keys, system }
}

fn send(h: &TestHost, req: Request) -> (u16, Value, Response) {
    let resp = complete(crate::handle(&req, &h.host(), &settings()));
    let v: Value = serde_json::from_slice(&resp.body).expect("every body is JSON");
    assert_eq!(v["status"], resp.status, "envelope status equals HTTP status");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    (resp.status, v, resp)
}

fn post(path: &str, body: &str) -> Request {
    Request::new("POST", path).body(body.as_bytes().to_vec())
}

fn register(h: &TestHost, email: &str, username: &str) {
    let body =
        format!(r#"{{"email":"{email}","username":"{username}","password":"correct horse","full_name":"Test"}}"#);
    assert_eq!(send(h, post("/auth/register", &body)).0, 201);
}

fn login(h: &TestHost, email: &str, password: &str) -> (u16, Value, Option<String>) {
    let (status, v, resp) = send(h, post("/auth/login", &format!(r#"{{"email":"{email}","password":"{password}"}}"#)));
    (status, v, resp.cookie("session_token").map(str::to_string))
}

fn with_token(req: Request, token: &str) -> Request {
    req.header("cookie", format!("theme=dark; session_token={token}"))
}

#[test]
fn register_login_me_sessions_logout() {
    let h = host();
    register(&h, "Ada@Example.com", "ada");
    let (status, v, token) = login(&h, "ada@example.COM", "correct horse");
    assert_eq!(status, 200);
    assert_eq!(v["data"]["user"]["email"], "ada@example.com");
    let token = token.unwrap();
    assert!(crate::token::well_formed(&token));
    assert!(h.store.stored_sessions().iter().all(|s| s.token_hash != token), "the raw token is never stored");

    let (status, v, _) = send(&h, with_token(Request::new("GET", "/auth/user/me"), &token));
    assert_eq!(status, 200);
    assert_eq!(v["data"]["user"]["username"], "ada");
    assert_eq!(v["data"]["user"]["last_login"], "2023-11-14T22:13:20Z");

    let (status, v, _) = send(&h, with_token(Request::new("GET", "/auth/user/sessions"), &token));
    assert_eq!(status, 200);
    assert_eq!(v["data"]["total_active_sessions"], 1);
    assert_eq!(v["data"]["sessions"][0]["current_session"], true);

    let (status, _, resp) = send(&h, with_token(Request::new("POST", "/auth/logout"), &token));
    assert_eq!(status, 200);
    assert!(resp.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), &token)).0, 401);
}

#[test]
fn bearer_header_is_accepted_and_wins_over_the_cookie() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let token = login(&h, "a@b.co", "correct horse").2.unwrap();
    let req = Request::new("GET", "/auth/user/me").header("authorization", format!("Bearer {token}"));
    assert_eq!(send(&h, req.clone()).0, 200);
    let forged = crate::token::encode(&[9; crate::token::TOKEN_BYTES]);
    assert_eq!(send(&h, with_token(req, &forged)).0, 200);
    // A header that is not a valid Bearer does not fall back to a valid cookie.
    let basic = with_token(Request::new("GET", "/auth/user/me").header("authorization", "Basic dXNlcjpwYXNz"), &token);
    assert_eq!(send(&h, basic).0, 401);
}

#[test]
fn lockout_after_the_limit_even_with_the_right_password_and_for_unknown_emails() {
    let h = host();
    register(&h, "a@b.co", "abc");
    for _ in 0..5 {
        assert_eq!(login(&h, "a@b.co", "wrong password").0, 401);
        assert_eq!(login(&h, "ghost@b.co", "wrong password").0, 401);
    }
    let (status, v, _) = login(&h, "a@b.co", "correct horse");
    assert_eq!(status, 429);
    assert_eq!(v["error"]["retry_after"], 900);
    assert_eq!(login(&h, "ghost@b.co", "whatever").0, 429);
}

#[test]
fn success_resets_the_count() {
    let h = host();
    register(&h, "a@b.co", "abc");
    for _ in 0..4 {
        assert_eq!(login(&h, "a@b.co", "wrong password").0, 401);
    }
    assert_eq!(login(&h, "a@b.co", "correct horse").0, 200);
    for _ in 0..5 {
        assert_eq!(login(&h, "a@b.co", "wrong password").0, 401);
    }
}

#[test]
fn unknown_email_and_wrong_password_answer_identically() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let (s1, v1, _) = login(&h, "a@b.co", "wrong password");
    let (s2, v2, _) = login(&h, "nobody@b.co", "wrong password");
    assert_eq!((s1, &v1), (s2, &v2));
}

#[test]
fn duplicate_registration_is_a_conflict_naming_the_field() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let body = r#"{"email":"A@B.CO","username":"other","password":"correct horse","full_name":"x"}"#;
    let (status, v, _) = send(&h, post("/auth/register", body));
    assert_eq!(status, 409);
    assert_eq!(v["error"]["field"], "email");
}

#[test]
fn expired_sessions_are_refused_and_not_listed() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let token = login(&h, "a@b.co", "correct horse").2.unwrap();
    h.advance(24 * 3600 * 1000);
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), &token)).0, 401);
}

#[test]
fn routing_errors_use_the_envelope() {
    let h = host();
    assert_eq!(send(&h, Request::new("GET", "/nope")).0, 404);
    let (status, _, resp) = send(&h, Request::new("GET", "/auth/login"));
    assert_eq!(status, 405);
    assert_eq!(resp.header("allow"), Some("POST"));
    let mut big = post("/auth/register", "{}");
    big.body = Body::TooLarge;
    assert_eq!(send(&h, big).0, 413);
    assert_eq!(send(&h, post("/auth/login", "{oops")).0, 400);
}

#[test]
fn a_store_that_is_down_is_a_503() {
    let h = host();
    h.store.set_unavailable(true);
    let (status, v, _) = send(&h, post("/auth/login", r#"{"email":"a@b.co","password":"x"}"#));
    assert_eq!(status, 503);
    assert!(v["error"].is_string());
    assert_eq!(send(&h, Request::new("GET", "/readyz")).0, 503);
    assert_eq!(send(&h, Request::new("GET", "/healthz")).0, 200);
}

#[test]
fn garbage_tokens_are_401_without_a_lookup() {
    let h = host();
    h.store.set_unavailable(true);
    for t in ["", "x", "a;b", &"A".repeat(43)] {
        let status = send(&h, with_token(Request::new("GET", "/auth/user/me"), t)).0;
        assert!(status == 401 || status == 503, "{t}: {status}");
    }
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), "short")).0, 401);
}

#[test]
fn password_change_rechecks_and_ends_other_sessions() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let t1 = login(&h, "a@b.co", "correct horse").2.unwrap();
    let t2 = login(&h, "a@b.co", "correct horse").2.unwrap();
    let change = |current: &str, new: &str| {
        with_token(
            post("/auth/user/password", &format!(r#"{{"current_password":"{current}","new_password":"{new}"}}"#)),
            &t1,
        )
    };
    assert_eq!(send(&h, change("wrong one", "brand new secret")).0, 401);
    let (status, v, _) = send(&h, change("correct horse", "password1"));
    assert_eq!(status, 400);
    assert!(v["error"]["fields"][0]["message"].as_str().unwrap().contains("commonly used"));
    let (status, v, _) = send(&h, change("correct horse", "brand new secret"));
    assert_eq!(status, 200);
    assert_eq!(v["data"]["revoked"], 1);
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), &t1)).0, 200);
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), &t2)).0, 401);
    assert_eq!(login(&h, "a@b.co", "correct horse").0, 401);
    assert_eq!(login(&h, "a@b.co", "brand new secret").0, 200);
}

#[test]
fn sessions_can_be_revoked_one_by_one_or_all_but_this_one() {
    let h = host();
    register(&h, "a@b.co", "abc");
    register(&h, "x@b.co", "xyz");
    let mine = login(&h, "a@b.co", "correct horse").2.unwrap();
    let other = login(&h, "a@b.co", "correct horse").2.unwrap();
    let theirs = login(&h, "x@b.co", "correct horse").2.unwrap();
    let list = |t: &str| send(&h, with_token(Request::new("GET", "/auth/user/sessions"), t)).1;
    let their_id = list(&theirs)["data"]["sessions"][0]["id"].as_str().unwrap().to_string();
    let del =
        |t: &str, id: &str| send(&h, with_token(Request::new("DELETE", &format!("/auth/user/sessions/{id}")), t)).0;
    assert_eq!(del(&mine, &their_id), 404);
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), &theirs)).0, 200);
    let v = list(&mine);
    let other_id =
        v["data"]["sessions"].as_array().unwrap().iter().find(|s| s["current_session"] == false).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(del(&mine, &other_id), 200);
    assert_eq!(del(&mine, &other_id), 404);
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), &other)).0, 401);
    login(&h, "a@b.co", "correct horse");
    let (status, v, _) = send(&h, with_token(Request::new("DELETE", "/auth/user/sessions"), &mine));
    assert_eq!((status, v["data"]["revoked"].as_u64()), (200, Some(1)));
    assert_eq!(list(&mine)["data"]["total_active_sessions"], 1);
}

#[test]
fn cookie_requests_from_other_sites_are_refused_but_bearer_ones_are_not() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let t = login(&h, "a@b.co", "correct horse").2.unwrap();
    let cross = |r: Request| r.header("host", "auth.example.com").header("origin", "https://evil.example");
    assert_eq!(send(&h, cross(with_token(Request::new("POST", "/auth/logout"), &t))).0, 403);
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), &t)).0, 200, "still logged in");
    let bearer = cross(Request::new("POST", "/auth/logout").header("authorization", format!("Bearer {t}")));
    assert_eq!(send(&h, bearer).0, 200);
}

#[test]
fn login_history_pages_newest_first() {
    let h = host();
    register(&h, "a@b.co", "abc");
    login(&h, "a@b.co", "nope nope");
    let t = login(&h, "a@b.co", "correct horse").2.unwrap();
    let (status, v, _) = send(&h, with_token(Request::new("GET", "/auth/user/logins?per_page=1"), &t));
    assert_eq!(status, 200);
    assert_eq!(v["data"]["total"], 2);
    assert_eq!(v["data"]["logins"][0]["outcome"], "success");
    let (_, v, _) = send(&h, with_token(Request::new("GET", "/auth/user/logins?per_page=1&page=2"), &t));
    assert_eq!(v["data"]["logins"][0]["outcome"], "invalid_credentials");
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/logins?per_page=0"), &t)).0, 400);
}

#[test]
fn login_rehashes_when_the_algorithm_or_its_parameters_changed() {
    let h = host();
    register(&h, "a@b.co", "abc");
    // The Go service's bcrypt ($2a$, cost 10), our own bcrypt, Argon2id with other parameters:
    // each verifies, and the sign-in leaves the current setting's hash in its place.
    let go = bcrypt::hash_with_result("correct horse", 10).unwrap().format_for_version(bcrypt::Version::TwoA);
    let ours = password::hash("correct horse", PasswordHashing::Bcrypt { cost: 4 }).unwrap();
    let other =
        password::hash("correct horse", PasswordHashing::Argon2id { memory_kib: 32, iterations: 2, parallelism: 1 })
            .unwrap();
    for old in [go, ours, other] {
        h.store.edit_user("a@b.co", |u| u.password_hash = old.clone());
        assert_eq!(login(&h, "a@b.co", "correct horse").0, 200, "{old}");
        let now = h.password_hash("a@b.co");
        assert_ne!(now, old);
        assert!(password::is_current(&now, TEST_HASHING), "{now}");
    }
    // A current hash is left alone.
    let current = h.password_hash("a@b.co");
    assert_eq!(login(&h, "a@b.co", "correct horse").0, 200);
    assert_eq!(h.password_hash("a@b.co"), current);
}

#[test]
fn only_the_hosts_client_address_is_believed() {
    let h = host();
    register(&h, "a@b.co", "abc");
    // As Spin delivers it: the client's forged copy first, the host's own value last.
    let req = post("/auth/login", r#"{"email":"a@b.co","password":"correct horse"}"#)
        .header("spin-client-addr", "81.2.69.160:1")
        .header("spin-client-addr", "10.1.2.3:5555");
    let (status, _, _) = send(&h, req);
    assert_eq!(status, 200);
    let s = h.store.stored_sessions()[0].clone();
    assert_eq!((s.ip_address.as_str(), s.location.as_str()), ("10.1.2.3", "Local"));
}

/// docs/openapi.yaml documents exactly the routes the component serves.
#[test]
fn the_openapi_document_lists_every_route_and_no_other() {
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml")).unwrap();
    let mut documented = Vec::new();
    let mut in_paths = false;
    let mut path = String::new();
    for line in yaml.lines() {
        if line == "paths:" {
            in_paths = true;
        } else if in_paths && !line.starts_with(' ') && !line.is_empty() {
            in_paths = false;
        } else if in_paths && line.starts_with("  /") && line.ends_with(':') {
            path = line.trim().trim_end_matches(':').to_string();
        } else if in_paths && line.starts_with("    ") && !line.starts_with("     ") {
            let key = line.trim().trim_end_matches(':');
            if ["get", "post", "put", "patch", "delete"].contains(&key) {
                documented.push((key.to_uppercase(), path.clone()));
            }
        }
    }
    let mut served: Vec<(String, String)> =
        asm_contract::http::ROUTES.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
    // And each served route answers something other than 404/405 (the operators' routes exist
    // once a token is set).
    let h = host();
    let with_admin = Settings { admin_token_digests: vec![[1; 32]], ..settings() };
    for r in asm_contract::http::ROUTES {
        // Not `send`: the account page's routes answer HTML, CSS and JavaScript.
        let req = Request::new(r.method, &r.path.replace("{id}", "x"));
        let status = complete(crate::handle(&req, &h.host(), &with_admin)).status;
        assert!(status != 404 || r.path.contains("{id}"), "{} {}", r.method, r.path);
        assert_ne!(status, 405, "{} {}", r.method, r.path);
    }
}

#[test]
fn failures_count_toward_the_normalised_email() {
    let h = host();
    register(&h, "a@b.co", "abc");
    for email in [" A@B.co", "a@B.CO ", "A@b.co", "a@b.co", " a@b.co"] {
        assert_eq!(login(&h, email, "wrong password").0, 401);
    }
    assert_eq!(login(&h, "a@b.co", "correct horse").0, 429);
}

/// The reference store, with every operation's name written down as it is called.
struct Recording {
    inner: MemoryStore,
    calls: std::sync::Mutex<Vec<&'static str>>,
}

macro_rules! record_calls {
    ($($(#[$trait_doc:meta])* $module:ident $Trait:ident $label:literal {
        $($(#[$doc:meta])* fn $op:ident($($arg:ident: $ty:ident),*) -> $ret:ty;)*
    })*) => {$(
        #[async_trait::async_trait]
        impl $Trait for Recording {
            $(
                async fn $op(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    self.calls.lock().unwrap().push(stringify!($op));
                    $Trait::$op(&self.inner, $($arg),*).await
                }
            )*
        }
    )*};
}

mod recording {
    use super::Recording;
    use asm_contract::*;
    with_store_operations!(record_calls);
}

/// A locked login, and a wrong password, cost the store the same work for an email with an
/// account and one without: the answer's timing tells nothing.
#[test]
fn locked_and_failed_logins_do_the_same_work_for_known_and_unknown_emails() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let rec = Recording { inner: h.store, calls: Default::default() };
    let keys = SecretKeys::parse(&SecretKeys::encode(&[7; 32]), "").unwrap();
    let host = Host {
        users: &rec,
        sessions: &rec,
        geo: &NoGeo,
        keyring: &keys,
        mailer: &rec,
        events: &rec,
        hashing: &Unbounded,
        system: &h.system,
    };
    let calls_of = |email: &str, password: &str| {
        rec.calls.lock().unwrap().clear();
        let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
        let status = complete(crate::handle(&post("/auth/login", &body), &host, &settings())).status;
        (status, rec.calls.lock().unwrap().clone())
    };
    let (status, known) = calls_of("a@b.co", "wrong password");
    assert_eq!(status, 401);
    assert_eq!(calls_of("ghost@b.co", "wrong password"), (401, known.clone()));
    for _ in 0..5 {
        calls_of("a@b.co", "wrong password");
        calls_of("ghost@b.co", "wrong password");
    }
    let (status, known) = calls_of("a@b.co", "correct horse");
    assert_eq!(status, 429);
    // The account is read before the gates, known or not: a device cookie is trusted only for
    // the account's current credentials.
    assert_eq!(known.first(), Some(&"find_user_by_email"), "{known:?}");
    assert!(!known.contains(&"record_login"), "nothing past the gates: {known:?}");
    assert_eq!(calls_of("ghost@b.co", "correct horse"), (429, known));
}

/// `GET /auth/user/me` is one session-store call when the store keeps the profile, shows the
/// newest login whichever session asks, and heals a missing profile from the user store.
#[test]
fn me_is_one_session_store_call_and_shows_the_newest_login() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let first = login(&h, "a@b.co", "correct horse").2.unwrap();
    h.advance(5_000);
    let second_at = h.system.now_ms();
    login(&h, "a@b.co", "correct horse").2.unwrap();
    h.advance(1_000);
    let rec = Recording { inner: h.store, calls: Default::default() };
    let keys = SecretKeys::parse(&SecretKeys::encode(&[7; 32]), "").unwrap();
    let host = Host {
        users: &rec,
        sessions: &rec,
        geo: &NoGeo,
        keyring: &keys,
        mailer: &rec,
        events: &rec,
        hashing: &Unbounded,
        system: &h.system,
    };
    let me = || {
        rec.calls.lock().unwrap().clear();
        let req = with_token(Request::new("GET", "/auth/user/me"), &first);
        let resp = complete(crate::handle(&req, &host, &settings()));
        let v: Value = serde_json::from_slice(&resp.body).unwrap();
        (resp.status, v, rec.calls.lock().unwrap().clone())
    };
    let (status, v, calls) = me();
    assert_eq!(status, 200);
    assert_eq!(calls, ["get_session"], "one round trip");
    assert_eq!(v["data"]["user"]["email"], "a@b.co");
    assert_eq!(v["data"]["user"]["last_login"], crate::routes::views::rfc3339(second_at), "the newest login");

    rec.inner.forget_profiles();
    let (status, healed, calls) = me();
    assert_eq!((status, &calls[..]), (200, &["get_session", "find_user_by_id", "put_user_profile"][..]));
    assert_eq!(healed["data"], v["data"], "the user store says the same");
    assert_eq!(me().2, ["get_session"], "kept for next time");
}

/// The token in the newest mail's link to `page` (`reset`, `verify`), and the mail's recipient.
fn mailed_token(h: &TestHost, page: &str) -> (String, String) {
    let mail = h.store.sent_mail().pop().expect("a mail was queued");
    let marker = format!("https://auth.example.com/account/{page}?token=");
    let at = mail.text.find(&marker).unwrap_or_else(|| panic!("no {page} link in {:?}", mail.text)) + marker.len();
    (mail.text[at..at + crate::token::MAIL_TOKEN_LEN].to_string(), mail.to)
}

#[test]
fn forgot_answers_alike_and_does_the_same_work_for_known_and_unknown_emails() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let rec = Recording { inner: h.store, calls: Default::default() };
    let keys = SecretKeys::parse(&SecretKeys::encode(&[7; 32]), "").unwrap();
    let host = Host {
        users: &rec,
        sessions: &rec,
        geo: &NoGeo,
        keyring: &keys,
        mailer: &rec,
        events: &rec,
        hashing: &Unbounded,
        system: &h.system,
    };
    let forgot = |email: &str| {
        rec.calls.lock().unwrap().clear();
        let resp = complete(crate::handle(
            &post("/auth/password/forgot", &format!(r#"{{"email":"{email}"}}"#)),
            &host,
            &settings(),
        ));
        (resp.status, resp.body, rec.calls.lock().unwrap().clone())
    };
    let known = forgot("a@b.co");
    assert_eq!(known.0, 202);
    assert_eq!(forgot("ghost@b.co"), known, "status, body and store calls");
    let mail = rec.inner.sent_mail();
    assert_eq!(mail.len(), 3, "verification at registration, then one mail per request");
    assert!(mail[1].text.contains("/account/reset?token=") && mail[1].to == "a@b.co");
    assert!(!mail[2].text.contains("token=") && mail[2].to == "ghost@b.co", "no account: a note, no link");
}

/// Disabling voids a reset link mailed before; asking again mails a note without a link, and
/// the answer is the one anybody gets.
#[test]
fn a_disabled_account_gets_no_reset_link() {
    let h = host();
    register(&h, "a@b.co", "abc");
    assert_eq!(send(&h, post("/auth/password/forgot", r#"{"email":"a@b.co"}"#)).0, 202);
    let (token, _) = mailed_token(&h, "reset");
    let id = complete(h.store.find_user_by_email("a@b.co".into())).unwrap().unwrap().id;
    complete(h.store.set_disabled(id.into(), true)).unwrap();
    let used = send(
        &h,
        post("/auth/password/reset", &format!(r#"{{"token":"{token}","new_password":"battery staple horse"}}"#)),
    );
    assert_eq!((used.0, used.1["error"].as_str()), (400, Some("invalid or expired token")), "voided by the disabling");
    let (status, v, _) = send(&h, post("/auth/password/forgot", r#"{"email":"a@b.co"}"#));
    assert_eq!(
        (status, v["message"].as_str()),
        (202, Some("If an account uses this email, a reset link is on its way"))
    );
    let note = h.store.sent_mail().pop().unwrap();
    assert!(note.to == "a@b.co" && !note.text.contains("token=") && note.text.contains("disabled"), "{note:?}");
}

#[test]
fn a_reset_link_sets_the_password_once_and_ends_every_session() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let old = login(&h, "a@b.co", "correct horse").2.unwrap();
    assert_eq!(send(&h, post("/auth/password/forgot", r#"{"email":"A@b.co "}"#)).0, 202);
    let (token, to) = mailed_token(&h, "reset");
    assert_eq!(to, "a@b.co");
    let reset = |password: &str| {
        send(&h, post("/auth/password/reset", &format!(r#"{{"token":"{token}","new_password":"{password}"}}"#)))
    };
    // A password the rules refuse leaves the link usable.
    let (status, v, _) = reset("password123");
    assert_eq!((status, v["message"].as_str()), (400, Some("Validation failed")), "{v}");
    let (status, v, resp) = reset("battery staple horse");
    assert_eq!(status, 200, "{v}");
    assert!(resp.cookie("session_token_device").is_some(), "the browser that reset the password is known again");
    assert_eq!(v["data"]["revoked"], 1);
    let notice = h.store.sent_mail().pop().unwrap();
    assert_eq!((notice.to.as_str(), notice.subject.as_str()), ("a@b.co", "Your asm password was changed"));
    assert_eq!(send(&h, with_token(Request::new("GET", "/auth/user/me"), &old)).0, 401, "old sessions ended");
    assert_eq!(login(&h, "a@b.co", "correct horse").0, 401);
    let fresh = login(&h, "a@b.co", "battery staple horse").2.unwrap();
    let (_, me, _) = send(&h, with_token(Request::new("GET", "/auth/user/me"), &fresh));
    assert_eq!(me["data"]["user"]["email_verified"], true, "the link proved the mailbox");
    let (status, v, _) = reset("another good password");
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid or expired token")), "single use");
}

#[test]
fn reset_tokens_expire_and_are_voided_by_newer_ones_and_by_password_changes() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let reset = |token: &str| {
        send(
            &h,
            post("/auth/password/reset", &format!(r#"{{"token":"{token}","new_password":"battery staple horse"}}"#)),
        )
        .0
    };
    send(&h, post("/auth/password/forgot", r#"{"email":"a@b.co"}"#));
    let (first, _) = mailed_token(&h, "reset");
    send(&h, post("/auth/password/forgot", r#"{"email":"a@b.co"}"#));
    let (second, _) = mailed_token(&h, "reset");
    assert_eq!(reset(&first), 400, "voided by the newer link");
    h.advance(30 * 60 * 1000 + 1);
    assert_eq!(reset(&second), 400, "expired after 30 minutes");
    assert_eq!(reset(&"A".repeat(43)), 400, "made up");
    assert_eq!(reset("short"), 400, "malformed");

    send(&h, post("/auth/password/forgot", r#"{"email":"a@b.co"}"#));
    let (third, _) = mailed_token(&h, "reset");
    let session = login(&h, "a@b.co", "correct horse").2.unwrap();
    let change = with_token(
        post("/auth/user/password", r#"{"current_password":"correct horse","new_password":"a whole new secret"}"#),
        &session,
    );
    assert_eq!(send(&h, change).0, 200);
    let notice = h.store.sent_mail().pop().unwrap();
    assert!(notice.subject.contains("password was changed") && notice.text.contains("signed-in session"));
    assert_eq!(reset(&third), 400, "a password change voids outstanding links");
}

#[test]
fn verification_is_mailed_at_registration_and_can_be_required_for_login() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let (token, to) = mailed_token(&h, "verify");
    assert_eq!(to, "a@b.co");
    let strict = Settings { require_verified_email: true, ..settings() };
    let login_strict = || {
        let req = post("/auth/login", r#"{"email":"a@b.co","password":"correct horse"}"#);
        let resp = complete(crate::handle(&req, &h.host(), &strict));
        (resp.status, serde_json::from_slice::<Value>(&resp.body).unwrap())
    };
    let (status, v) = login_strict();
    assert_eq!((status, v["error"].as_str()), (403, Some("email_not_verified")));
    let wrong = complete(crate::handle(
        &post("/auth/login", r#"{"email":"a@b.co","password":"nope nope"}"#),
        &h.host(),
        &strict,
    ));
    assert_eq!(wrong.status, 401, "only the right password learns that the email is unverified");

    let session = login(&h, "a@b.co", "correct horse").2.unwrap();
    let me = || {
        send(&h, with_token(Request::new("GET", "/auth/user/me"), &session)).1["data"]["user"]["email_verified"].clone()
    };
    assert_eq!(me(), false);
    let (status, v, _) = send(&h, post("/auth/email/verify", &format!(r#"{{"token":"{token}"}}"#)));
    assert_eq!(status, 200, "{v}");
    assert_eq!(me(), true, "the session check sees it at once");
    assert_eq!(send(&h, post("/auth/email/verify", &format!(r#"{{"token":"{token}"}}"#))).0, 400, "single use");
    assert_eq!(login_strict().0, 200);
}

#[test]
fn resend_needs_a_session_and_mail_requests_are_limited_per_email() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let before = h.store.sent_mail().len();
    assert_eq!(send(&h, post("/auth/email/verify/resend", "")).0, 401);
    let session = login(&h, "a@b.co", "correct horse").2.unwrap();
    assert_eq!(send(&h, with_token(post("/auth/email/verify/resend", ""), &session)).0, 202);
    assert_eq!(h.store.sent_mail().len(), before + 1);
    for _ in 0..3 {
        assert_eq!(send(&h, post("/auth/password/forgot", r#"{"email":"ghost@b.co"}"#)).0, 202);
    }
    let (status, v, resp) = send(&h, post("/auth/password/forgot", r#"{"email":"ghost@b.co"}"#));
    assert_eq!(status, 429, "{v}");
    assert!(resp.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 0));
    assert_eq!(send(&h, post("/auth/password/forgot", r#"{"email":"a@b.co"}"#)).0, 202, "another email is not held up");
    // Mail goes to exactly the address asked for: text around it is no address.
    for odd in ["visit evil.example <a@b.co>", "a@b.co, c@d.co", "nobody"] {
        let body = serde_json::json!({ "email": odd }).to_string();
        assert_eq!(send(&h, post("/auth/password/forgot", &body)).0, 400, "{odd}");
    }
    h.advance(3600 * 1000 + 1);
    assert_eq!(send(&h, post("/auth/password/forgot", r#"{"email":"ghost@b.co"}"#)).0, 202, "the window ends");
}

/// The TOTP code for the secret in an enrolment answer, `steps` steps from now.
fn code_for(h: &TestHost, secret_b32: &str, steps: i64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_b32.to_string()).to_bytes().unwrap();
    let step = (h.system.now_ms() / 1000 / 30 + steps) as u64;
    crate::totp::code_at(&secret, step)
}

fn mfa(h: &TestHost, token: &str, field: &str, code: &str) -> (u16, Value, Response) {
    send(h, post("/auth/login/mfa", &serde_json::json!({ "mfa_token": token, field: code }).to_string()))
}

#[test]
fn totp_enrolment_login_recovery_codes_and_disabling() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let session = login(&h, "a@b.co", "correct horse").2.unwrap();
    let authed = |req: Request| send(&h, with_token(req, &session));
    let (status, v, _) = authed(post("/auth/user/totp", r#"{"password":"wrong password"}"#));
    assert_eq!((status, &v["error"]["field"]), (401, &serde_json::json!("password")), "{v}");
    let (status, v, _) = authed(post("/auth/user/totp", r#"{"password":"correct horse"}"#));
    assert_eq!(status, 200, "{v}");
    let secret = v["data"]["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32, "20 bytes in base32");
    assert!(v["data"]["otpauth_uri"].as_str().unwrap().contains(&format!("secret={secret}")));
    assert!(
        v["data"]["qr_svg"].as_str().unwrap().starts_with("<?xml")
            || v["data"]["qr_svg"].as_str().unwrap().contains("<svg")
    );
    let stored = complete(h.store.find_user_by_email("a@b.co".into())).unwrap().unwrap();
    let sealed = stored.totp_secret.clone().unwrap();
    assert!(!stored.totp_enabled && !sealed.windows(4).any(|w| secret.as_bytes().windows(4).any(|x| x == w)));
    assert_eq!(authed(Request::new("GET", "/auth/user/me")).1["data"]["user"]["mfa_enabled"], false, "pending");

    let right = code_for(&h, &secret, 0);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    assert_eq!(authed(post("/auth/user/totp/confirm", &format!(r#"{{"code":"{wrong}"}}"#))).0, 400);
    let (status, v, _) = authed(post("/auth/user/totp/confirm", &format!(r#"{{"code":"{right}"}}"#)));
    assert_eq!(status, 200, "{v}");
    let codes: Vec<String> = serde_json::from_value(v["data"]["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    let last_notice = || h.store.sent_mail().pop().map(|m| (m.to, m.subject, m.text)).unwrap();
    let (to, subject, text) = last_notice();
    assert_eq!((to.as_str(), subject.as_str()), ("a@b.co", "Two-step verification is on for your asm account"));
    assert!(codes.iter().all(|c| !text.contains(c.as_str())) && !text.contains(&secret), "no secret in a notice");
    let mails = h.store.sent_mail().len();
    assert_eq!(authed(Request::new("GET", "/auth/user/me")).1["data"]["user"]["mfa_enabled"], true);
    assert_eq!(authed(post("/auth/user/totp", r#"{"password":"correct horse"}"#)).0, 409, "already on");

    // The password now earns an mfa_token, not a session.
    let (status, v, resp) = login(&h, "a@b.co", "correct horse");
    assert_eq!((status, &v["data"]["mfa_required"]), (200, &serde_json::json!(true)), "{v}");
    assert!(resp.is_none(), "no session cookie");
    let token = v["data"]["mfa_token"].as_str().unwrap().to_string();
    assert_eq!(mfa(&h, &token, "code", &right).0, 401, "the code confirmed with is not accepted again");
    h.advance(30_000);
    let (status, v, resp) = mfa(&h, &token, "code", &code_for(&h, &secret, 0));
    assert_eq!(status, 200, "{v}");
    let with_code = resp.cookie("session_token").unwrap().to_string();
    assert_eq!(mfa(&h, &token, "code", &code_for(&h, &secret, 1)).0, 401, "the token is used up");
    let (_, list, _) = send(&h, with_token(Request::new("GET", "/auth/user/sessions"), &with_code));
    let mine =
        list["data"]["sessions"].as_array().unwrap().iter().find(|s| s["current_session"] == true).unwrap().clone();
    assert_eq!(mine["mfa"], true);
    assert_eq!(h.store.sent_mail().len(), mails, "a sign-in with a code is not notified");

    // A recovery code, once.
    let token = login(&h, "a@b.co", "correct horse").1["data"]["mfa_token"].as_str().unwrap().to_string();
    let (status, _, _) = mfa(&h, &token, "recovery_code", &codes[3].to_uppercase());
    assert_eq!(status, 200);
    assert_eq!(last_notice().1, "A recovery code was used to sign in to asm");
    let token = login(&h, "a@b.co", "correct horse").1["data"]["mfa_token"].as_str().unwrap().to_string();
    assert_eq!(mfa(&h, &token, "recovery_code", &codes[3]).0, 401, "used up");
    let (_, history, _) = send(&h, with_token(Request::new("GET", "/auth/user/logins"), &with_code));
    let outcomes: Vec<&str> =
        history["data"]["logins"].as_array().unwrap().iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"recovery_code") && outcomes.contains(&"mfa_failed"), "{outcomes:?}");

    // New codes void the old; turning TOTP off needs the password and voids them too.
    let (status, v, _) =
        send(&h, with_token(post("/auth/user/recovery-codes", r#"{"password":"correct horse"}"#), &with_code));
    assert_eq!(status, 200, "{v}");
    assert_eq!(last_notice().1, "New recovery codes for your asm account");
    let token = login(&h, "a@b.co", "correct horse").1["data"]["mfa_token"].as_str().unwrap().to_string();
    assert_eq!(mfa(&h, &token, "recovery_code", &codes[4]).0, 401, "voided by the new set");
    let off = with_token(
        Request::new("DELETE", "/auth/user/totp").body(br#"{"password":"correct horse"}"#.to_vec()),
        &with_code,
    );
    assert_eq!(send(&h, off).0, 200);
    assert_eq!(last_notice().1, "Two-step verification was turned off for your asm account");
    let mails = h.store.sent_mail().len();
    let off_again = with_token(
        Request::new("DELETE", "/auth/user/totp").body(br#"{"password":"correct horse"}"#.to_vec()),
        &with_code,
    );
    assert_eq!(send(&h, off_again).0, 200);
    assert_eq!(h.store.sent_mail().len(), mails, "turning off what is off tells no one");
    let (status, _, cookie) = login(&h, "a@b.co", "correct horse");
    assert!(status == 200 && cookie.is_some(), "a plain login again");
    let off_codes =
        send(&h, with_token(post("/auth/user/recovery-codes", r#"{"password":"correct horse"}"#), &with_code));
    assert_eq!(off_codes.0, 409, "no codes while TOTP is off");
}

#[test]
fn wrong_codes_are_limited_per_token_and_count_toward_the_lock_out() {
    let h = host();
    register(&h, "a@b.co", "abc");
    let session = login(&h, "a@b.co", "correct horse").2.unwrap();
    let v = send(&h, with_token(post("/auth/user/totp", r#"{"password":"correct horse"}"#), &session)).1;
    let secret = v["data"]["secret"].as_str().unwrap().to_string();
    let confirm = format!(r#"{{"code":"{}"}}"#, code_for(&h, &secret, 0));
    assert_eq!(send(&h, with_token(post("/auth/user/totp/confirm", &confirm), &session)).0, 200);
    h.advance(30_000);
    let token = login(&h, "a@b.co", "correct horse").1["data"]["mfa_token"].as_str().unwrap().to_string();
    let right = code_for(&h, &secret, 0);
    let wrong = if right == "123456" { "654321" } else { "123456" };
    for _ in 0..5 {
        assert_eq!(mfa(&h, &token, "code", wrong).0, 401);
    }
    let (status, _, resp) = mfa(&h, &token, "code", &right);
    assert_eq!(status, 429, "five wrong codes lock the token and the email");
    assert!(resp.header("retry-after").is_some());
    assert_eq!(login(&h, "a@b.co", "correct horse").0, 429, "wrong codes count toward the email's lock-out");
    assert_eq!(mfa(&h, "not-a-token", "code", &right).0, 401);
    assert_eq!(send(&h, post("/auth/login/mfa", r#"{"mfa_token":"x","code":"1","recovery_code":"2"}"#)).0, 400);
}
