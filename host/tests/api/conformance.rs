//! One contract, every backend: the store operations of `wit/asm.wit` checked directly against
//! PostgreSQL with sessions in Redis, in a Redis Cluster (three masters, three replicas) and in
//! PostgreSQL itself, the embedded SQLite store, the in-memory reference store and the Node
//! example's JavaScript stores (through the store probe under jco), including the atomic ones
//! under concurrency; under `ASM_TEST_TARGET=spin`, against the Spin adapter.

use crate::support::*;
use asm_contract::*;
use asm_host::stores::{now_ms, postgres, redis, sqlite::SqliteStore};
use asm_stores::memory::MemoryStore;
use asm_stores::postgres as pg;
use asm_stores::postgres_sessions::PostgresSessions;
use std::sync::Arc;
use std::time::Duration;

type Backend = (&'static str, Arc<dyn UserStore>, Arc<dyn SessionStore>);
/// A user store and the events store beside it.
type EventBackend = (&'static str, Arc<dyn UserStore>, Arc<dyn Events>);
/// An events store with webhooks on, its outbox and its user store.
type WebhookBackend = (&'static str, Arc<dyn Events>, Arc<dyn asm_stores::outbox::Outbox>, Arc<dyn UserStore>);

/// The PostgreSQL driver, refusing any query that answers no row: Spin 4.0 to 4.1 never answer
/// those, so the shared statements must not need one (`asm_stores::postgres`).
struct AtLeastOneRow(postgres::Pg);

#[async_trait::async_trait]
impl pg::Driver for AtLeastOneRow {
    async fn query(&self, sql: &'static str, params: Vec<pg::Param>) -> StoreResult<pg::Rows> {
        let rows = self.0.query(sql, params).await?;
        assert!(!rows.rows.is_empty(), "a query answered no row: {sql}");
        Ok(rows)
    }
    async fn execute(&self, sql: &'static str, params: Vec<pg::Param>) -> StoreResult<()> {
        self.0.execute(sql, params).await
    }
}

/// Every backend, or those `ASM_CONFORMANCE_BACKENDS` names (`make check` runs `memory,sqlite`,
/// which need no server; `make test` runs them all).
async fn backends() -> Vec<Backend> {
    if crate::spin::target_is_spin() {
        // The Spin adapter's stores, under a real `spin up`, through the store probe.
        let probe = Arc::new(crate::spin::probe().await);
        return vec![("spin adapter", probe.clone(), probe)];
    }
    let timeout = Duration::from_secs(2);
    let mut all: Vec<Backend> = Vec::new();
    if wanted("postgres+redis") || wanted("postgres+redis cluster") || wanted("postgres") {
        let pg: Arc<dyn UserStore> =
            Arc::new(pg::PostgresUsers::new(AtLeastOneRow(postgres::driver(&database_url(), timeout, 8).unwrap())));
        if wanted("postgres+redis") {
            let prefix = format!("{}:", unique("asm-conf-"));
            all.push(("postgres+redis", pg.clone(), Arc::new(redis::connect(&redis_url(), &prefix, timeout).unwrap())));
        }
        if wanted("postgres+redis cluster") {
            let wait = redis::ReplicaWait { replicas: 1, timeout: Duration::from_millis(200) };
            let prefix = format!("{}:", unique("asm-conf-"));
            let cluster = redis::connect_cluster(&redis_cluster_nodes(), None, &prefix, timeout, wait).unwrap();
            all.push(("postgres+redis cluster", pg.clone(), Arc::new(cluster)));
        }
        if wanted("postgres") {
            let driver = AtLeastOneRow(postgres::driver(&database_url(), timeout, 8).unwrap());
            all.push(("postgres", pg, Arc::new(PostgresSessions::new(driver, true))));
        }
    }
    if wanted("sqlite") {
        let sqlite = Arc::new(SqliteStore::open(&sqlite_url(), timeout).await.unwrap());
        all.push(("sqlite", sqlite.clone(), sqlite));
    }
    if wanted("memory") {
        let memory = Arc::new(MemoryStore::new());
        all.push(("memory", memory.clone(), memory));
    }
    if wanted("node") {
        // The Node example's JavaScript stores, through the store probe under jco.
        let node = Arc::new(crate::probe::node().await);
        all.push(("node", node.clone(), node));
    }
    assert!(!all.is_empty(), "ASM_CONFORMANCE_BACKENDS names no backend");
    all
}

/// The user stores with the events store beside them (the events live in the users' database).
async fn event_backends() -> Vec<EventBackend> {
    if crate::spin::target_is_spin() {
        let probe = Arc::new(crate::spin::probe().await);
        return vec![("spin adapter", probe.clone(), probe)];
    }
    let timeout = Duration::from_secs(2);
    let mut all: Vec<EventBackend> = Vec::new();
    if wanted("postgres") {
        let driver = postgres::driver(&database_url(), timeout, 8).unwrap();
        let users = Arc::new(pg::PostgresUsers::new(AtLeastOneRow(driver.clone())));
        all.push(("postgres", users, Arc::new(pg::PostgresEvents::new(AtLeastOneRow(driver), false))));
    }
    if wanted("sqlite") {
        let sqlite = Arc::new(SqliteStore::open(&sqlite_url(), timeout).await.unwrap());
        all.push(("sqlite", sqlite.clone(), sqlite));
    }
    if wanted("memory") {
        let memory = Arc::new(MemoryStore::new());
        all.push(("memory", memory.clone(), memory));
    }
    if wanted("node") {
        let node = Arc::new(crate::probe::node().await);
        all.push(("node", node.clone(), node));
    }
    all
}

/// Whether `ASM_CONFORMANCE_BACKENDS` (unset: all of them) names this backend.
fn wanted(name: &str) -> bool {
    let chosen = std::env::var("ASM_CONFORMANCE_BACKENDS").ok();
    chosen.as_deref().is_none_or(|list| list.split(',').any(|n| n.trim() == name))
}

fn hash(s: &Session) -> TokenHash {
    s.token()
}

/// A profile for a user the user store may not have (the session tests need none).
fn profile_of(s: &Session) -> UserProfile {
    UserProfile {
        id: s.user_id.clone(),
        email: format!("{}@example.com", s.user_id),
        username: s.user_id.clone(),
        full_name: "Conformance".into(),
        created_at: s.created_at,
        last_login: Some(s.created_at),
        email_verified: false,
        mfa_enabled: false,
    }
}

async fn create(
    sessions: &Arc<dyn SessionStore>,
    s: Session,
    max_sessions: u32,
    credential_version: u64,
) -> StoreResult<SessionCreated> {
    let profile = profile_of(&s);
    sessions.create_session(s, profile, max_sessions, credential_version).await
}

fn ids(list: Vec<Session>) -> Vec<String> {
    let mut ids: Vec<String> = list.into_iter().map(|s| s.id).collect();
    ids.sort();
    ids
}

/// A fresh account's id: sessions belong to accounts that exist (the SQLite store, which keeps
/// both, refuses others).
async fn account(users: &Arc<dyn UserStore>) -> UserId {
    users.create_user(new_user("s")).await.unwrap().user_id()
}

fn new_user(tag: &str) -> NewUser {
    NewUser {
        email: format!("{}@example.com", unique(tag)),
        username: unique(tag)[..16].to_string(),
        full_name: "Conformance".into(),
        password_hash: "$2b$04$abcdefghijklmnopqrstuuQ0Ys9yGfwYFxUJ7ek6ZmC4OTNdH2Vxe".into(),
    }
}

fn session(user_id: &str, lifetime_ms: i64) -> Session {
    let now = now_ms();
    Session {
        id: unique("sid"),
        token_hash: format!("{}.{}", route_tag(user_id), asm_guest::token::hex_sha256(unique("token").as_bytes())),
        user_id: user_id.into(),
        ip_address: "203.0.113.7".into(),
        user_agent: "conformance/1.0".into(),
        device: Device {
            browser: "Test".into(),
            browser_version: "1.0".into(),
            os: "Linux".into(),
            os_version: "".into(),
            category: "pc".into(),
            summary: "Test 1 on Linux".into(),
        },
        location: "Local".into(),
        created_at: now,
        last_activity: now,
        expires_at: now + lifetime_ms,
        mfa: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_found_and_unique_case_insensitively() {
    for (name, users, _) in backends().await {
        let nu = new_user("conf");
        let user = users.create_user(nu.clone()).await.unwrap();
        assert_eq!((user.email.as_str(), user.last_login), (nu.email.as_str(), None), "{name}");
        let by_email = users.find_user_by_email(nu.email.to_uppercase()).await.unwrap().expect(name);
        assert_eq!(by_email.id, user.id, "{name}");
        let id = UserId::from(user.id.clone());
        assert_eq!(users.find_user_by_id(id.clone()).await.unwrap().unwrap().username, nu.username, "{name}");
        assert!(users.find_user_by_id("not-an-id".into()).await.unwrap().is_none(), "{name}");
        assert!(users.find_user_by_email("nobody@example.com".into()).await.unwrap().is_none(), "{name}");

        let same_email = NewUser { email: nu.email.to_uppercase(), ..new_user("other") };
        assert_eq!(users.create_user(same_email).await.unwrap_err(), StoreError::Conflict("email".into()), "{name}");
        let same_name = NewUser { username: nu.username.to_uppercase(), ..new_user("other") };
        assert_eq!(users.create_user(same_name).await.unwrap_err(), StoreError::Conflict("username".into()), "{name}");

        users.record_login(id.clone(), 1_700_000_000_123).await.unwrap();
        assert_eq!(user.credential_version, 0, "{name}");
        assert_eq!(users.update_password(id.clone(), "new-hash".into()).await.unwrap(), 1, "{name}");
        let again = users.find_user_by_id(id.clone()).await.unwrap().unwrap();
        assert_eq!((again.last_login, again.password_hash.as_str()), (Some(1_700_000_000_123), "new-hash"), "{name}");
        assert_eq!(again.credential_version, 1, "{name}: read with the hash");
        assert_eq!(users.update_password(id.clone(), "newer-hash".into()).await.unwrap(), 2, "{name}");
        users.ping().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehash_yields_to_a_password_change() {
    for (name, users, _) in backends().await {
        let user = users.create_user(new_user("rehash")).await.unwrap();
        let id = UserId::from(user.id.clone());
        let cost5 = "$2b$05$abcdefghijklmnopqrstuuQ0Ys9yGfwYFxUJ7ek6ZmC4OTNdH2Vxe".to_string();
        assert!(users.rehash_password(id.clone(), user.password_hash.clone(), cost5.clone()).await.unwrap(), "{name}");
        let found = users.find_user_by_id(id.clone()).await.unwrap().unwrap();
        assert_eq!(
            (found.password_hash.as_str(), found.credential_version),
            (cost5.as_str(), 0),
            "{name}: same password, same version"
        );
        users.update_password(id.clone(), "changed".into()).await.unwrap();
        assert!(!users.rehash_password(id.clone(), cost5, "stale".into()).await.unwrap(), "{name}");
        assert_eq!(users.find_user_by_id(id).await.unwrap().unwrap().password_hash, "changed", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_registrations_of_one_email_create_one_user() {
    for (name, users, _) in backends().await {
        let nu = new_user("race");
        let attempts = (0..10).map(|i| {
            let users = users.clone();
            let attempt = NewUser { username: format!("{}{i}", &nu.username[..10]), ..nu.clone() };
            async move { users.create_user(attempt).await }
        });
        let results = futures::future::join_all(attempts).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{name}: {results:?}");
        assert!(
            results.iter().filter_map(|r| r.as_ref().err()).all(|e| *e == StoreError::Conflict("email".into())),
            "{name}"
        );
    }
}

fn attempt(email: &str, outcome: LoginOutcome, at: i64) -> AttemptRecord {
    AttemptRecord {
        email: email.to_string(),
        outcome,
        ip_address: "203.0.113.7".into(),
        user_agent: "ua".into(),
        device_info: "Test 1 on Linux".into(),
        location: "Local".into(),
        at,
    }
}

const KEEP_ALL: Retention = Retention { max_age_ms: u64::MAX / 2, max_count: 1000 };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_history_is_kept_by_email_and_paged_newest_first() {
    for (name, users, _) in backends().await {
        let user = users.create_user(new_user("hist")).await.unwrap();
        let outcomes = [LoginOutcome::InvalidCredentials, LoginOutcome::Locked, LoginOutcome::Success];
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let email = if i == 1 { user.email.to_uppercase() } else { user.email.clone() };
            users
                .record_login_attempt(attempt(&email, outcome, 1_700_000_000_000 + i as i64 * 1000), KEEP_ALL)
                .await
                .unwrap();
        }
        // An email without an account keeps nothing (and is no error).
        users.record_login_attempt(attempt("nobody@example.com", LoginOutcome::Locked, 1), KEEP_ALL).await.unwrap();
        let id = UserId::from(user.id.clone());
        let page = users.list_login_attempts(id.clone(), 0, 2).await.unwrap();
        assert_eq!(page.total, 3, "{name}");
        let outcomes: Vec<LoginOutcome> = page.attempts.iter().map(|a| a.outcome).collect();
        assert_eq!(outcomes, [LoginOutcome::Success, LoginOutcome::Locked], "{name}");
        assert_eq!(
            (page.attempts[0].at, page.attempts[0].user_id.as_str()),
            (1_700_000_002_000, user.id.as_str()),
            "{name}"
        );
        let rest = users.list_login_attempts(id.clone(), 2, 2).await.unwrap();
        assert_eq!((rest.total, rest.attempts.len()), (3, 1), "{name}");
        assert_eq!(rest.attempts[0].outcome, LoginOutcome::InvalidCredentials, "{name}");
        assert_eq!(users.list_login_attempts(id, 10, 2).await.unwrap().total, 3, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_history_keeps_only_what_retention_allows() {
    for (name, users, _) in backends().await {
        let user = users.create_user(new_user("keep")).await.unwrap();
        let id = UserId::from(user.id.clone());
        let day = 24 * 3600 * 1000;
        let keep = Retention { max_age_ms: 30 * day as u64, max_count: 3 };
        let now = now_ms();
        // Two too old, then five recent: only the three newest stay.
        for (i, at) in
            [now - 40 * day, now - 31 * day, now - 5, now - 4, now - 3, now - 2, now - 1].into_iter().enumerate()
        {
            let outcome = if i % 2 == 0 { LoginOutcome::Success } else { LoginOutcome::InvalidCredentials };
            users.record_login_attempt(attempt(&user.email, outcome, at), keep).await.unwrap();
        }
        let page = users.list_login_attempts(id.clone(), 0, 10).await.unwrap();
        let times: Vec<i64> = page.attempts.iter().map(|a| a.at).collect();
        assert_eq!((page.total, times), (3, vec![now - 1, now - 2, now - 3]), "{name}");
        // Age alone: a new attempt drops what has grown too old.
        let by_age = Retention { max_age_ms: 2, max_count: 1000 };
        users.record_login_attempt(attempt(&user.email, LoginOutcome::Success, now), by_age).await.unwrap();
        let left: Vec<i64> =
            users.list_login_attempts(id, 0, 10).await.unwrap().attempts.iter().map(|a| a.at).collect();
        assert_eq!(left, vec![now, now - 1, now - 2], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_stored_indexed_touched_and_ended() {
    for (name, users, sessions) in backends().await {
        let user = account(&users).await;
        let a = session(user.as_str(), 60_000);
        let b = session(user.as_str(), 60_000);
        assert!(create(&sessions, a.clone(), 0, 0).await.unwrap() == SessionCreated::Created(vec![]), "{name}");
        create(&sessions, b.clone(), 0, 0).await.unwrap();
        assert_eq!(sessions.get_session(hash(&a)).await.unwrap().map(|l| l.session), Some(a.clone()), "{name}");
        assert!(sessions.get_session("0".repeat(64).into()).await.unwrap().is_none(), "{name}");
        let unknown = format!("{}.{}", route_tag(user.as_str()), "0".repeat(64));
        assert!(sessions.get_session(unknown.into()).await.unwrap().is_none(), "{name}");
        let mut expected = vec![a.id.clone(), b.id.clone()];
        expected.sort();
        assert_eq!(ids(sessions.list_sessions(user.clone()).await.unwrap()), expected, "{name}");
        assert!(sessions.list_sessions(unique("nobody").into()).await.unwrap().is_empty(), "{name}");

        let later = a.last_activity + 5_000;
        assert!(sessions.touch_session(hash(&a), later, a.expires_at).await.unwrap(), "{name}");
        assert_eq!(sessions.get_session(hash(&a)).await.unwrap().unwrap().session.last_activity, later, "{name}");
        assert!(!sessions.touch_session("f".repeat(64).into(), later, a.expires_at).await.unwrap(), "{name}");

        assert!(sessions.delete_session(user.clone(), hash(&b)).await.unwrap(), "{name}");
        assert!(!sessions.delete_session(user.clone(), hash(&b)).await.unwrap(), "{name}: only once");
        assert!(sessions.get_session(hash(&b)).await.unwrap().is_none(), "{name}");
        assert_eq!(sessions.list_sessions(user.clone()).await.unwrap().len(), 1, "{name}: gone from the index");

        let c = session(user.as_str(), 60_000);
        let d = session(user.as_str(), 60_000);
        create(&sessions, c.clone(), 0, 0).await.unwrap();
        create(&sessions, d.clone(), 0, 0).await.unwrap();
        assert_eq!(sessions.delete_other_sessions(user.clone(), hash(&c)).await.unwrap(), 2, "{name}");
        assert_eq!(ids(sessions.list_sessions(user).await.unwrap()), vec![c.id.clone()], "{name}");
        sessions.ping().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_idle_ones_end_at_keep_until() {
    for (name, users, sessions) in backends().await {
        let user = account(&users).await;
        let short = session(user.as_str(), 300);
        let idle = session(user.as_str(), 60_000);
        let long = session(user.as_str(), 60_000);
        for s in [&short, &idle, &long] {
            create(&sessions, s.clone(), 0, 0).await.unwrap();
        }
        assert!(sessions.touch_session(hash(&idle), now_ms(), now_ms() + 300).await.unwrap(), "{name}");
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert!(sessions.get_session(hash(&short)).await.unwrap().is_none(), "{name}: expired");
        assert!(sessions.get_session(hash(&idle)).await.unwrap().is_none(), "{name}: idle past keep-until");
        assert!(sessions.get_session(hash(&long)).await.unwrap().is_some(), "{name}");
        assert_eq!(
            ids(sessions.list_sessions(user).await.unwrap()),
            vec![long.id.clone()],
            "{name}: the index forgets them too"
        );
        assert!(
            !sessions.touch_session(hash(&short), now_ms(), now_ms() + 60_000).await.unwrap(),
            "{name}: no revival"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cap_ends_the_least_recently_active() {
    for (name, users, sessions) in backends().await {
        let user = account(&users).await;
        let mut all = Vec::new();
        for i in 0..3 {
            let mut s = session(user.as_str(), 60_000);
            s.last_activity += i * 10;
            create(&sessions, s.clone(), 0, 0).await.unwrap();
            all.push(s);
        }
        // The oldest is used again, so the second becomes the least recently active.
        sessions.touch_session(hash(&all[0]), all[2].last_activity + 10, all[0].expires_at).await.unwrap();
        let mut newest = session(user.as_str(), 60_000);
        newest.last_activity = all[2].last_activity + 20;
        let SessionCreated::Created(mut evicted) = create(&sessions, newest.clone(), 2, 0).await.unwrap() else {
            panic!("{name}: refused")
        };
        evicted.sort();
        let mut expected_gone = vec![all[1].id.clone(), all[2].id.clone()];
        expected_gone.sort();
        assert_eq!(evicted, expected_gone, "{name}");
        let mut expected = vec![all[0].id.clone(), newest.id.clone()];
        expected.sort();
        assert_eq!(ids(sessions.list_sessions(user).await.unwrap()), expected, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_for_a_superseded_credential_version_are_refused() {
    for (name, users, sessions) in backends().await {
        let user = account(&users).await;
        let first = session(user.as_str(), 60_000);
        assert!(matches!(create(&sessions, first, 0, 0).await.unwrap(), SessionCreated::Created(_)), "{name}");
        sessions.set_credential_version(user.clone(), 3).await.unwrap();
        sessions.set_credential_version(user.clone(), 2).await.unwrap(); // never lowers it
        let old = session(user.as_str(), 60_000);
        assert_eq!(create(&sessions, old.clone(), 0, 2).await.unwrap(), SessionCreated::Stale, "{name}");
        assert!(sessions.get_session(hash(&old)).await.unwrap().is_none(), "{name}: nothing stored");
        assert!(
            matches!(
                create(&sessions, session(user.as_str(), 60_000), 0, 3).await.unwrap(),
                SessionCreated::Created(_)
            ),
            "{name}"
        );
        assert!(
            matches!(
                create(&sessions, session(user.as_str(), 60_000), 0, 4).await.unwrap(),
                SessionCreated::Created(_)
            ),
            "{name}"
        );
        let other = session(account(&users).await.as_str(), 60_000);
        assert!(
            matches!(create(&sessions, other, 0, 0).await.unwrap(), SessionCreated::Created(_)),
            "{name}: per user"
        );
    }
}

/// Whether the backend keeps profiles itself (Redis, the reference store) rather than reading
/// them from the user store beside it (the SQL stores).
fn keeps_profiles(name: &str) -> bool {
    !matches!(name, "sqlite" | "postgres")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_check_names_its_user_with_the_newest_login() {
    for (name, users, sessions) in backends().await {
        let user = users.create_user(new_user("prof")).await.unwrap();
        let id = UserId::from(user.id.clone());
        let a = session(&user.id, 60_000);
        let t1 = a.created_at;
        users.record_login(id.clone(), t1).await.unwrap();
        let profile = UserProfile { last_login: Some(t1), ..UserProfile::from(&user) };
        sessions.create_session(a.clone(), profile.clone(), 0, 0).await.unwrap();
        let found = sessions.get_session(hash(&a)).await.unwrap().expect(name);
        assert_eq!(found.user.as_ref(), Some(&profile), "{name}");

        // A second login: the first session's check shows it.
        let b = session(&user.id, 60_000);
        let t2 = t1 + 1_000;
        users.record_login(id.clone(), t2).await.unwrap();
        sessions.create_session(b, UserProfile { last_login: Some(t2), ..profile.clone() }, 0, 0).await.unwrap();
        let found = sessions.get_session(hash(&a)).await.unwrap().expect(name);
        assert_eq!(found.user.and_then(|p| p.last_login), Some(t2), "{name}");

        let renamed = UserProfile { full_name: "Renamed".into(), last_login: Some(t2), ..profile.clone() };
        sessions.put_user_profile(renamed.clone()).await.unwrap();
        let shown = sessions.get_session(hash(&a)).await.unwrap().expect(name).user.expect(name);
        if keeps_profiles(name) {
            assert_eq!(shown, renamed, "{name}: replaced");
            // An older last login never replaces a newer one.
            sessions.put_user_profile(UserProfile { last_login: Some(t1), ..renamed.clone() }).await.unwrap();
            let shown = sessions.get_session(hash(&a)).await.unwrap().expect(name).user.expect(name);
            assert_eq!(shown.last_login, Some(t2), "{name}");
        } else {
            assert_eq!(shown.full_name, user.full_name, "{name}: read from the user store");
        }
        // A user without sessions keeps no profile.
        let nobody = UserProfile { id: unique("user"), ..profile.clone() };
        sessions.put_user_profile(nobody).await.unwrap();
    }
}

/// Mailed tokens: found by hash for their purpose only, until they expire; used up once (of
/// parallel redemptions, one wins); voided by a newer token of the purpose, by a password change
/// (reset tokens) and by verifying the email (verification tokens).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailed_tokens_are_single_use_and_voidable() {
    use TokenPurpose::{EmailVerification, PasswordReset};
    for (name, users, sessions) in backends().await {
        let user = users.create_user(new_user("tok")).await.unwrap();
        assert!(!user.email_verified, "{name}: new accounts are unverified");
        let id = UserId::from(user.id.clone());
        let now = now_ms();
        let (later, hash) = (now + 60_000, |tag: &str| format!("{:0>64}", format!("{tag}{}", unique(""))));
        let issue = |hash: String, purpose, expires_at| {
            let (users, email) = (users.clone(), user.email.to_uppercase());
            async move { users.issue_token(email, purpose, hash, expires_at).await.unwrap() }
        };
        let peek = |hash: &str, purpose| users.redeem_token(purpose, hash.to_string(), now, false);
        let consume = |hash: &str, purpose| users.redeem_token(purpose, hash.to_string(), now, true);

        let decoy = hash("n");
        let none =
            users.issue_token(unique("nobody") + "@example.com", PasswordReset, decoy.clone(), later).await.unwrap();
        assert_eq!(none, None, "{name}: no account");
        assert_eq!(consume(&decoy, PasswordReset).await.unwrap(), None, "{name}: and nothing to redeem");
        let r1 = hash("a");
        assert_eq!(issue(r1.clone(), PasswordReset, later).await.map(|u| u.id), Some(user.id.clone()), "{name}");
        assert_eq!(peek(&r1, EmailVerification).await.unwrap(), None, "{name}: another purpose");
        assert_eq!(peek(&r1, PasswordReset).await.unwrap().map(|u| u.id), Some(user.id.clone()), "{name}");
        assert!(peek(&r1, PasswordReset).await.unwrap().is_some(), "{name}: looking does not use it");
        let r2 = hash("b");
        issue(r2.clone(), PasswordReset, later).await;
        assert_eq!(peek(&r1, PasswordReset).await.unwrap(), None, "{name}: voided by the newer one");

        // Parallel issues leave one token standing.
        let racing: Vec<String> = (0..8).map(|i| hash(&format!("p{i}"))).collect();
        futures::future::join_all(racing.iter().map(|h| issue(h.clone(), PasswordReset, later))).await;
        let mut standing = 0;
        for h in &racing {
            standing += usize::from(peek(h, PasswordReset).await.unwrap().is_some());
        }
        assert_eq!(standing, 1, "{name}: one token per account and purpose");
        assert_eq!(peek(&r2, PasswordReset).await.unwrap(), None, "{name}");
        let r2 = hash("b2");
        issue(r2.clone(), PasswordReset, later).await;

        // Parallel redemptions: one gets the account.
        let wins = futures::future::join_all((0..8).map(|_| consume(&r2, PasswordReset))).await;
        let got: Vec<_> = wins.into_iter().map(|r| r.unwrap()).filter(Option::is_some).collect();
        assert_eq!(got.len(), 1, "{name}: single use");

        let expired = hash("c");
        issue(expired.clone(), PasswordReset, now - 1).await;
        assert_eq!(consume(&expired, PasswordReset).await.unwrap(), None, "{name}: expired");

        let r3 = hash("d");
        issue(r3.clone(), PasswordReset, later).await;
        let v1 = hash("e");
        issue(v1.clone(), EmailVerification, later).await;
        users.update_password(id.clone(), "changed".into()).await.unwrap();
        assert_eq!(peek(&r3, PasswordReset).await.unwrap(), None, "{name}: a password change voids reset tokens");
        assert!(peek(&v1, EmailVerification).await.unwrap().is_some(), "{name}: and only those");

        users.mark_email_verified(id.clone()).await.unwrap();
        assert_eq!(peek(&v1, EmailVerification).await.unwrap(), None, "{name}: verifying voids verification tokens");
        let found = users.find_user_by_id(id.clone()).await.unwrap().unwrap();
        assert!(found.email_verified, "{name}");
        users.mark_email_verified(id.clone()).await.unwrap();
        assert!(users.find_user_by_email(user.email.clone()).await.unwrap().unwrap().email_verified, "{name}: stays");

        // Session checks show it, from the user store or from the profile the component hands over.
        let s = session(&user.id, 60_000);
        sessions.create_session(s.clone(), UserProfile::from(&user), 0, found.credential_version).await.unwrap();
        sessions.put_user_profile(UserProfile::from(&found)).await.unwrap();
        let shown = sessions.get_session(s.token()).await.unwrap().expect(name).user;
        if let Some(profile) = shown {
            assert!(profile.email_verified, "{name}");
        }
    }
}

/// The second factor's state: a pending secret, turned on with recovery codes, steps accepted once
/// and in order (of parallel submissions, one), recovery codes used once, replaced, and all of it
/// gone when TOTP is turned off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_state_steps_and_recovery_codes() {
    for (name, users, sessions) in backends().await {
        let user = users.create_user(new_user("totp")).await.unwrap();
        assert!(user.totp_secret.is_none() && !user.totp_enabled, "{name}");
        let id = UserId::from(user.id.clone());
        let codes = |tag: &str| (0..10).map(|i| format!("{:0>64}", format!("{tag}{i}"))).collect::<Vec<_>>();
        assert!(!users.enable_totp(id.clone(), codes("a")).await.unwrap(), "{name}: nothing pending");
        assert!(!users.accept_totp_step(id.clone(), 5).await.unwrap(), "{name}: no secret");
        assert!(users.begin_totp(id.clone(), vec![1, 2, 3, 0, 255]).await.unwrap(), "{name}");
        let found = users.find_user_by_id(id.clone()).await.unwrap().unwrap();
        assert_eq!(
            (found.totp_secret.as_deref(), found.totp_enabled),
            (Some(&[1u8, 2, 3, 0, 255][..]), false),
            "{name}"
        );
        assert!(users.accept_totp_step(id.clone(), 10).await.unwrap(), "{name}: confirming");
        assert!(users.enable_totp(id.clone(), codes("a")).await.unwrap(), "{name}");
        assert!(!users.enable_totp(id.clone(), codes("b")).await.unwrap(), "{name}: already on");
        assert!(!users.begin_totp(id.clone(), vec![9]).await.unwrap(), "{name}: not while on");
        let on = users.find_user_by_email(user.email.clone()).await.unwrap().unwrap();
        assert!(on.totp_enabled && on.totp_secret.as_deref() == Some(&[1u8, 2, 3, 0, 255][..]), "{name}");

        assert!(!users.accept_totp_step(id.clone(), 10).await.unwrap(), "{name}: a step once");
        assert!(!users.accept_totp_step(id.clone(), 9).await.unwrap(), "{name}: never an older one");
        let racing = futures::future::join_all((0..8).map(|_| users.accept_totp_step(id.clone(), 11))).await;
        assert_eq!(racing.into_iter().filter(|r| *r.as_ref().unwrap()).count(), 1, "{name}: parallel, one");

        let a = codes("a");
        assert!(users.use_recovery_code(id.clone(), a[2].clone()).await.unwrap(), "{name}");
        assert!(!users.use_recovery_code(id.clone(), a[2].clone()).await.unwrap(), "{name}: once");
        let racing = futures::future::join_all((0..8).map(|_| users.use_recovery_code(id.clone(), a[3].clone()))).await;
        assert_eq!(racing.into_iter().filter(|r| *r.as_ref().unwrap()).count(), 1, "{name}: parallel, one");
        assert!(users.replace_recovery_codes(id.clone(), codes("c")).await.unwrap(), "{name}");
        assert!(!users.use_recovery_code(id.clone(), a[4].clone()).await.unwrap(), "{name}: replaced");
        assert!(users.use_recovery_code(id.clone(), codes("c")[0].clone()).await.unwrap(), "{name}");

        // Session checks show it.
        let s = session(&user.id, 60_000);
        sessions.create_session(s.clone(), UserProfile::from(&on), 0, on.credential_version).await.unwrap();
        if let Some(p) = sessions.get_session(hash(&s)).await.unwrap().expect(name).user {
            assert!(p.mfa_enabled, "{name}");
        }
        assert!(sessions.get_session(hash(&s)).await.unwrap().expect(name).session.mfa, "{name}: kept");

        users.disable_totp(id.clone()).await.unwrap();
        let off = users.find_user_by_id(id.clone()).await.unwrap().unwrap();
        assert!(off.totp_secret.is_none() && !off.totp_enabled, "{name}");
        assert!(!users.use_recovery_code(id.clone(), codes("c")[1].clone()).await.unwrap(), "{name}: codes gone");
        assert!(!users.replace_recovery_codes(id.clone(), codes("d")).await.unwrap(), "{name}: off");
        assert!(users.begin_totp(id.clone(), vec![7]).await.unwrap(), "{name}: again");
        // A pending second login step ends with the password it was earned with.
        let step = format!("{:0>64}", unique("mfa"));
        users.issue_token(user.email.clone(), TokenPurpose::MfaLogin, step.clone(), now_ms() + 60_000).await.unwrap();
        assert!(users.redeem_token(TokenPurpose::MfaLogin, step.clone(), now_ms(), false).await.unwrap().is_some());
        users.update_password(id.clone(), "changed".into()).await.unwrap();
        assert!(users.redeem_token(TokenPurpose::MfaLogin, step, now_ms(), false).await.unwrap().is_none(), "{name}");
        assert!(users.accept_totp_step(id.clone(), 1).await.unwrap(), "{name}: the step count starts over");
    }
}

/// Begins `n` attempts at once under `key`; how many were admitted and how many told busy.
async fn begin_many(sessions: &Arc<dyn SessionStore>, key: &str, limit: u32, n: usize) -> (usize, usize) {
    let gates = futures::future::join_all((0..n).map(|_| sessions.begin_attempt(key.to_string(), limit, 60_000))).await;
    let admitted = gates.iter().filter(|g| matches!(g, Ok(AttemptGate::Admitted))).count();
    let busy = gates.iter().filter(|g| matches!(g, Ok(AttemptGate::Busy))).count();
    assert_eq!(admitted + busy, n, "{gates:?}");
    (admitted, busy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_admitted_atomically_and_only_failures_count() {
    for (name, _, sessions) in backends().await {
        let key = unique("attempts");
        assert_eq!(begin_many(&sessions, &key, 5, 40).await, (5, 35), "{name}: at most the limit in flight");
        // Successes give their places back without counting.
        for _ in 0..5 {
            sessions.end_attempt(key.clone(), false, 60_000).await.unwrap();
        }
        assert_eq!(begin_many(&sessions, &key, 5, 8).await, (5, 3), "{name}: no failure counted");
        for _ in 0..5 {
            sessions.end_attempt(key.clone(), true, 60_000).await.unwrap();
        }
        let locked = |g: AttemptGate| match g {
            AttemptGate::Locked(lock) => Some(lock),
            _ => None,
        };
        let first = locked(sessions.begin_attempt(key.clone(), 5, 60_000).await.unwrap()).expect(name);
        assert!(first.first && first.retry_after_ms > 0 && first.retry_after_ms <= 60_000, "{name}: {first:?}");
        let second = locked(sessions.begin_attempt(key.clone(), 5, 60_000).await.unwrap()).expect(name);
        assert!(!second.first, "{name}: only the first refusal is the first");
        // A larger limit admits again, counting the five failures.
        assert_eq!(begin_many(&sessions, &key, 7, 4).await, (2, 2), "{name}");
        sessions.reset_attempts(key.clone()).await.unwrap();
        assert_eq!(begin_many(&sessions, &key, 5, 5).await, (3, 2), "{name}: failures forgotten, two still in flight");

        // A window opens at the first failure and ends on its own (long enough that a loaded
        // machine still makes its three calls inside it).
        const WINDOW: u64 = 1_000;
        let short = unique("attempts");
        for _ in 0..2 {
            assert_eq!(
                sessions.begin_attempt(short.clone(), 2, WINDOW).await.unwrap(),
                AttemptGate::Admitted,
                "{name}"
            );
            sessions.end_attempt(short.clone(), true, WINDOW).await.unwrap();
        }
        assert!(locked(sessions.begin_attempt(short.clone(), 2, WINDOW).await.unwrap()).is_some(), "{name}");
        tokio::time::sleep(Duration::from_millis(WINDOW + 100)).await;
        assert_eq!(
            sessions.begin_attempt(short.clone(), 2, WINDOW).await.unwrap(),
            AttemptGate::Admitted,
            "{name}: a new window"
        );
    }
}

/// The outboxes a host's mail worker empties (PostgreSQL and SQLite; each on a database of its
/// own, so no running host's worker takes the messages): what `send` queues is claimed once per
/// lease, a retry is not due before its time, a delivery is recorded, and only ended mail is swept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outboxes_lease_each_message_to_one_worker_and_record_the_outcome() {
    use asm_stores::outbox::{Kind, Message, Outbox};
    let timeout = Duration::from_secs(2);
    type Queue = (&'static str, Arc<dyn Mailer>, Arc<dyn Outbox>);
    let mut outboxes: Vec<Queue> = Vec::new();
    if wanted("postgres") {
        let pg = postgres::driver(&own_database().await, timeout, 8).unwrap();
        outboxes.push((
            "postgres",
            Arc::new(pg::PostgresMailer::new(pg.clone())),
            Arc::new(pg::PostgresOutbox::new(pg)),
        ));
    }
    if wanted("sqlite") {
        let sqlite = Arc::new(SqliteStore::open(&sqlite_url(), timeout).await.unwrap());
        outboxes.push(("sqlite", sqlite.clone(), sqlite));
    }
    for (name, mailer, outbox) in outboxes {
        let mail = |n: u32| Mail {
            to: format!("reader{n}@example.com"),
            subject: format!("Subject {n}"),
            text: format!("text {n}"),
            html: format!("<p>html {n}</p>"),
        };
        mailer.send(mail(1)).await.unwrap();
        mailer.send(mail(2)).await.unwrap();

        // Parallel claims, as from several workers: each message goes to one of them.
        let claims = futures::future::join_all((0..6).map(|_| outbox.claim(Kind::Mail, 1, 60_000))).await;
        let mut claimed: Vec<_> = claims.into_iter().flat_map(|c| c.unwrap()).collect();
        claimed.sort_by_key(|q| q.id);
        assert_eq!(claimed.len(), 2, "{name}: {claimed:?}");
        assert_eq!((claimed[0].message.clone(), claimed[0].attempts), (Message::Mail(mail(1)), 1), "{name}");
        assert!(claimed[0].queued_at > 0 && claimed[0].id != claimed[1].id, "{name}");
        assert!(outbox.claim(Kind::Mail, 10, 60_000).await.unwrap().is_empty(), "{name}: held while leased");
        assert!(outbox.claim(Kind::Webhook, 10, 60_000).await.unwrap().is_empty(), "{name}: mail is not a webhook");

        outbox.sent(claimed[0].id).await.unwrap();
        outbox.retry(claimed[1].id, 60_000, "421 try later".into()).await.unwrap();
        assert!(
            outbox.claim(Kind::Mail, 10, 60_000).await.unwrap().is_empty(),
            "{name}: sent, and a retry not yet due"
        );
        outbox.retry(claimed[1].id, 0, "421 try later".into()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = outbox.claim(Kind::Mail, 10, 60_000).await.unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 2), "{name}: due again, attempt counted");
        outbox.failed(again[0].id, "550 no such user".into()).await.unwrap();
        assert!(outbox.claim(Kind::Mail, 10, 60_000).await.unwrap().is_empty(), "{name}: failed for good");

        // A lease that ran out (a worker that died) gives the message to the next claim.
        mailer.send(mail(3)).await.unwrap();
        assert_eq!(outbox.claim(Kind::Mail, 1, 1).await.unwrap().len(), 1, "{name}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let retaken = outbox.claim(Kind::Mail, 1, 60_000).await.unwrap();
        assert_eq!((retaken.len(), retaken[0].attempts), (1, 2), "{name}: taken again after the lease");

        // Only ended mail goes, and only when old enough; a message still waiting stays.
        assert_eq!(outbox.sweep(3_600_000, 3_600_000).await.unwrap(), 0, "{name}: nothing that old");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(outbox.sweep(1, 3_600_000).await.unwrap() >= 2, "{name}: the sent and the failed message");
        outbox.retry(retaken[0].id, 0, "later".into()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(outbox.claim(Kind::Mail, 1, 60_000).await.unwrap().len(), 1, "{name}: the waiting one was kept");
    }
}

fn new_event(event_type: EventType, user: Option<&str>, data: &str) -> NewEvent {
    NewEvent {
        event_type,
        user_id: user.map(str::to_string),
        at: now_ms(),
        ip_address: "203.0.113.7".into(),
        data: data.into(),
    }
}

/// Events are kept, read newest first a page at a time (by account, by type), taken back, and
/// emptied of all but id, type and time when their account is erased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_kept_paged_withdrawn_and_emptied_at_erasure() {
    for (name, users, events) in event_backends().await {
        let (a, b) =
            (users.create_user(new_user("ev")).await.unwrap(), users.create_user(new_user("ev")).await.unwrap());
        let mut ids = Vec::new();
        for (t, who) in [
            (EventType::UserCreated, &a),
            (EventType::SessionCreated, &a),
            (EventType::UserCreated, &b),
            (EventType::SessionRevoked, &a),
        ] {
            let data = format!(r#"{{"email":"{}"}}"#, who.email);
            ids.push(events.append(new_event(t, Some(&who.id), &data)).await.unwrap());
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{name}: ids grow: {ids:?}");
        let of_a = EventFilter { user_id: Some(a.id.clone()), event_type: None };
        let first = events.list_events(of_a.clone(), 2, None).await.unwrap();
        let types: Vec<EventType> = first.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::SessionRevoked, EventType::SessionCreated], "{name}: newest first");
        assert_eq!(first.events[0].ip_address, "203.0.113.7", "{name}");
        let rest = events.list_events(of_a.clone(), 2, first.next.clone()).await.unwrap();
        assert_eq!(
            (rest.events.len(), rest.events[0].event_type, rest.next),
            (1, EventType::UserCreated, None),
            "{name}"
        );
        let created = EventFilter { user_id: None, event_type: Some(EventType::UserCreated) };
        let page = events.list_events(created, 100, None).await.unwrap();
        assert!(page.events.iter().all(|e| e.event_type == EventType::UserCreated), "{name}");
        assert!(page.events.iter().any(|e| e.user_id.as_deref() == Some(b.id.as_str())), "{name}");
        let nobody = EventFilter { user_id: Some("not-an-account".into()), event_type: None };
        assert!(events.list_events(nobody, 10, None).await.unwrap().events.is_empty(), "{name}");

        // Taken back: gone from the trail.
        let taken = events.append(new_event(EventType::UserDisabled, Some(&a.id), "{}")).await.unwrap();
        events.withdraw(taken).await.unwrap();
        let now = events.list_events(of_a.clone(), 10, None).await.unwrap();
        assert!(now.events.iter().all(|e| e.id != taken) && now.events.len() == 3, "{name}");

        // Erased: a's events keep id, type and time; b's are untouched.
        assert!(users.delete_user(a.user_id()).await.unwrap(), "{name}");
        let kept = events.list_events(of_a, 10, None).await.unwrap().events;
        assert_eq!(kept.len(), 3, "{name}: the trail keeps its entries");
        assert!(
            kept.iter().all(|e| e.data == "{}" && e.ip_address.is_empty() && !e.data.contains(&a.email)),
            "{name}: {kept:?}"
        );
        let of_b = events.list_events(EventFilter { user_id: Some(b.id.clone()), event_type: None }, 10, None).await;
        assert!(of_b.unwrap().events[0].data.contains(&b.email), "{name}");
    }
}

/// Webhook deliveries in the SQL outboxes (each on a database of its own, so no running host's
/// worker takes them): written held with their event and released when the request ends; one
/// account's go out in order, each after the one before it is delivered or given up, while
/// other accounts' go on; a withdrawn event takes its delivery with it; retention sweeps both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_held_then_go_out_in_order_per_account() {
    use asm_stores::outbox::{Kind, Message};
    let timeout = Duration::from_secs(2);
    let mut all: Vec<WebhookBackend> = Vec::new();
    if wanted("postgres") {
        let driver = postgres::driver(&own_database().await, timeout, 8).unwrap();
        all.push((
            "postgres",
            Arc::new(pg::PostgresEvents::new(driver.clone(), true)),
            Arc::new(pg::PostgresOutbox::new(driver.clone())),
            Arc::new(pg::PostgresUsers::new(driver)),
        ));
    }
    if wanted("sqlite") {
        let sqlite = Arc::new(SqliteStore::open(&sqlite_url(), timeout).await.unwrap());
        sqlite.deliver_webhooks(true);
        all.push(("sqlite", sqlite.clone(), sqlite.clone(), sqlite));
    }
    for (name, events, outbox, users) in all {
        let (a, b) =
            (users.create_user(new_user("wh")).await.unwrap(), users.create_user(new_user("wh")).await.unwrap());
        let a1 = events.append(new_event(EventType::UserCreated, Some(&a.id), "{}")).await.unwrap();
        let a2 = events.append(new_event(EventType::SessionCreated, Some(&a.id), "{}")).await.unwrap();
        let b1 = events.append(new_event(EventType::UserCreated, Some(&b.id), "{}")).await.unwrap();
        let claim = || outbox.claim(Kind::Webhook, 10, 60_000);
        assert!(claim().await.unwrap().is_empty(), "{name}: held until their request ends");
        assert!(outbox.claim(Kind::Mail, 10, 60_000).await.unwrap().is_empty(), "{name}: not mail");
        outbox.release(vec![a1, a2, b1]).await.unwrap();
        let event_of = |q: &asm_stores::outbox::Queued| match &q.message {
            Message::Webhook(e) => e.clone(),
            other => panic!("{name}: {other:?}"),
        };
        let first = claim().await.unwrap();
        let ids: Vec<i64> = first.iter().map(|q| event_of(q).id).collect();
        assert_eq!(ids, [a1, b1], "{name}: a's second waits for its first");
        let backlog = outbox.backlog(Kind::Webhook).await.unwrap();
        assert!(backlog.pending == 3 && backlog.oldest.is_some(), "{name}: {backlog:?}");
        // a1 fails and is due again at once: a2 still waits behind it; once a1 is delivered, a2 goes.
        let a1_row = first[0].id;
        outbox.retry(a1_row, 0, "503 Service Unavailable".into()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let next: Vec<(i64, u32)> = claim().await.unwrap().iter().map(|q| (event_of(q).id, q.attempts)).collect();
        assert_eq!(next, [(a1, 2)], "{name}: a1 again, a2 behind it");
        outbox.sent(a1_row).await.unwrap();
        let then: Vec<(i64, u32)> = claim().await.unwrap().iter().map(|q| (event_of(q).id, q.attempts)).collect();
        assert_eq!(then, [(a2, 1)], "{name}: a2 once a1 is delivered");

        // A withdrawn event's delivery goes with it.
        let a3 = events.append(new_event(EventType::UserDisabled, Some(&a.id), "{}")).await.unwrap();
        events.withdraw(a3).await.unwrap();
        outbox.release(vec![a3]).await.unwrap();
        assert!(claim().await.unwrap().is_empty(), "{name}: nothing to deliver");

        // Retention: old events go, with what still waits to deliver them.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(outbox.sweep(3_600_000, 1).await.unwrap() >= 3, "{name}");
        let left = events.list_events(EventFilter { user_id: Some(a.id.clone()), event_type: None }, 10, None).await;
        assert!(left.unwrap().events.is_empty(), "{name}");
        assert_eq!(outbox.backlog(Kind::Webhook).await.unwrap().pending, 0, "{name}");
    }
}

/// Operators find accounts by the start of an email or username, case-insensitively, oldest
/// first, a page at a time; a cursor is not disturbed by accounts created after it, and the
/// characters LIKE treats specially match themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_found_by_prefix_a_page_at_a_time() {
    for (name, users, _) in backends().await {
        let tag = unique("srch")[..12].to_string();
        let mut made = Vec::new();
        for i in 0..5 {
            let nu =
                NewUser { email: format!("{tag}{i}@example.com"), username: format!("{tag}u{i}"), ..new_user("srch") };
            made.push(users.create_user(nu).await.unwrap().id);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let first = users.search_users(tag.to_uppercase(), 2, None).await.unwrap();
        assert_eq!(first.users.iter().map(|u| u.id.clone()).collect::<Vec<_>>(), made[..2], "{name}: oldest first");
        let cursor = first.next.clone().expect(name);
        // Created after the first page was read: it comes last, and nothing repeats or is lost.
        let later =
            users.create_user(NewUser { email: format!("{tag}9@example.com"), ..new_user("srch") }).await.unwrap();
        let mut seen: Vec<String> = first.users.into_iter().map(|u| u.id).collect();
        let mut after = Some(cursor);
        while let Some(cursor) = after {
            let page = users.search_users(tag.clone(), 2, Some(cursor)).await.unwrap();
            seen.extend(page.users.into_iter().map(|u| u.id));
            after = page.next;
        }
        let mut expected = made.clone();
        expected.push(later.id);
        assert_eq!(seen, expected, "{name}");
        let by_username = users.search_users(format!("{tag}U3"), 10, None).await.unwrap();
        assert_eq!(by_username.users.len(), 1, "{name}: by username");
        assert!(by_username.next.is_none(), "{name}: one page");
        for wild in ["%", "_", "\\"] {
            let none = users.search_users(format!("{tag}{wild}"), 10, None).await.unwrap();
            assert!(none.users.is_empty(), "{name}: {wild:?} matches itself only");
        }
    }
}

/// An operator's change keeps the registration's uniqueness, unverifies a new email unless told
/// otherwise, and disabling raises the credential version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_changed_disabled_and_enabled() {
    for (name, users, _) in backends().await {
        let a = users.create_user(new_user("chg")).await.unwrap();
        let b = users.create_user(new_user("chg")).await.unwrap();
        let id = a.user_id();
        users.mark_email_verified(id.clone()).await.unwrap();
        let taken = UserChanges { email: Some(b.email.to_uppercase()), ..UserChanges::default() };
        assert_eq!(
            users.update_user(id.clone(), taken).await.unwrap_err(),
            StoreError::Conflict("email".into()),
            "{name}"
        );
        let taken = UserChanges { username: Some(b.username.clone()), ..UserChanges::default() };
        assert_eq!(
            users.update_user(id.clone(), taken).await.unwrap_err(),
            StoreError::Conflict("username".into()),
            "{name}"
        );
        let new_email = format!("{}@example.com", unique("moved"));
        let changed = users
            .update_user(
                id.clone(),
                UserChanges { email: Some(new_email.clone()), full_name: Some("Renamed".into()), ..Default::default() },
            )
            .await
            .unwrap()
            .expect(name);
        assert_eq!(
            (changed.email.as_str(), changed.full_name.as_str(), changed.email_verified),
            (new_email.as_str(), "Renamed", false),
            "{name}"
        );
        assert_eq!(changed.username, a.username, "{name}: unchanged fields stay");
        let verified = users
            .update_user(id.clone(), UserChanges { email_verified: Some(true), ..Default::default() })
            .await
            .unwrap();
        assert!(verified.expect(name).email_verified, "{name}");
        assert_eq!(
            users.update_user("00000000-0000-4000-8000-000000000000".into(), UserChanges::default()).await.unwrap(),
            None,
            "{name}"
        );

        // Disabling voids the links in flight: a reset link and an email change issued before.
        let later = now_ms() + 60_000;
        let (reset, change) = (unique("reset"), unique("change"));
        let email = users.find_user_by_id(id.clone()).await.unwrap().unwrap().email;
        assert!(users.issue_token(email, TokenPurpose::PasswordReset, reset.clone(), later).await.unwrap().is_some());
        let elsewhere = format!("{}@example.com", unique("elsewhere"));
        assert!(users.begin_email_change(id.clone(), elsewhere, change.clone(), later).await.unwrap(), "{name}");
        let v1 = users.set_disabled(id.clone(), true).await.unwrap().expect(name);
        let found = users.find_user_by_id(id.clone()).await.unwrap().unwrap();
        assert!(found.disabled && v1 == found.credential_version && v1 > a.credential_version, "{name}");
        let redeemed = users.redeem_token(TokenPurpose::PasswordReset, reset, now_ms(), true).await.unwrap();
        assert!(redeemed.is_none(), "{name}: a reset link from before the disabling");
        assert!(
            users.confirm_email_change(change, now_ms(), true).await.unwrap().is_none(),
            "{name}: an email change from before"
        );
        let v2 = users.set_disabled(id.clone(), false).await.unwrap().expect(name);
        assert!(v2 > v1 && !users.find_user_by_id(id).await.unwrap().unwrap().disabled, "{name}");
        assert_eq!(users.set_disabled("nobody".into(), true).await.unwrap(), None, "{name}");
    }
}

/// An email change waits for its link; of two accounts racing to one address, one gets it and
/// the other a conflict that leaves its link usable; a used or expired link is nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_changes_are_confirmed_once_and_conflicts_keep_the_link() {
    for (name, users, _) in backends().await {
        let a = users.create_user(new_user("ec")).await.unwrap();
        let b = users.create_user(new_user("ec")).await.unwrap();
        let target = format!("{}@example.com", unique("target"));
        let later = now_ms() + 60_000;
        let (ha, hb) = (unique("ha"), unique("hb"));
        assert!(users.begin_email_change(a.user_id(), target.clone(), ha.clone(), later).await.unwrap(), "{name}");
        assert!(users.begin_email_change(b.user_id(), target.clone(), hb.clone(), later).await.unwrap(), "{name}");
        assert!(
            !users.begin_email_change("nobody".into(), target.clone(), unique("x"), later).await.unwrap(),
            "{name}"
        );
        assert_eq!(users.find_user_by_id(a.user_id()).await.unwrap().unwrap().email, a.email, "{name}: nothing yet");
        // A look first (what the event is written from) changes nothing and answers the same.
        let peek = users.confirm_email_change(ha.clone(), now_ms(), false).await.unwrap().expect(name);
        assert_eq!(
            (peek.user.email.as_str(), peek.previous_email.as_str()),
            (target.as_str(), a.email.as_str()),
            "{name}"
        );
        assert_eq!(users.find_user_by_id(a.user_id()).await.unwrap().unwrap().email, a.email, "{name}: still nothing");
        let won = users.confirm_email_change(ha.clone(), now_ms(), true).await.unwrap().expect(name);
        assert_eq!(peek.user.id, won.user.id, "{name}");
        assert_eq!(
            (won.user.email.as_str(), won.previous_email.as_str(), won.user.email_verified),
            (target.as_str(), a.email.as_str(), true),
            "{name}"
        );
        assert_eq!(
            users.confirm_email_change(hb.clone(), now_ms(), true).await.unwrap_err(),
            StoreError::Conflict("email".into()),
            "{name}"
        );
        assert_eq!(
            users.confirm_email_change(hb.clone(), now_ms(), false).await.unwrap_err(),
            StoreError::Conflict("email".into()),
            "{name}: the look sees the conflict too"
        );
        assert_eq!(users.confirm_email_change(ha, now_ms(), true).await.unwrap(), None, "{name}: used");
        // The loser's link was kept: once the address is free again it works.
        users
            .update_user(
                a.user_id(),
                UserChanges { email: Some(format!("{}@example.com", unique("back"))), ..Default::default() },
            )
            .await
            .unwrap();
        assert!(
            users.confirm_email_change(hb.clone(), now_ms(), true).await.unwrap().is_some(),
            "{name}: the kept link"
        );
        let hc = unique("hc");
        users
            .begin_email_change(a.user_id(), format!("{}@example.com", unique("late")), hc.clone(), now_ms() - 1)
            .await
            .unwrap();
        assert_eq!(users.confirm_email_change(hc, now_ms(), true).await.unwrap(), None, "{name}: expired");
    }
}

/// Erasing an account leaves nothing the stores keep by it: the user store's row, history,
/// tokens and second factor, the session store's sessions, index and profile, its counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_account_leaves_nothing_behind() {
    for (name, users, sessions) in backends().await {
        let user = users.create_user(new_user("erase")).await.unwrap();
        let id = user.user_id();
        users
            .record_login_attempt(
                attempt(&user.email, LoginOutcome::Success, now_ms()),
                Retention { max_age_ms: u64::MAX, max_count: 10 },
            )
            .await
            .unwrap();
        users
            .issue_token(user.email.clone(), TokenPurpose::PasswordReset, unique("tok"), now_ms() + 60_000)
            .await
            .unwrap();
        let s = session(&user.id, 60_000);
        create(&sessions, s.clone(), 0, 0).await.unwrap();
        let key = unique("counter");
        sessions.begin_attempt(key.clone(), 5, 60_000).await.unwrap();
        sessions.end_attempt(key.clone(), true, 60_000).await.unwrap();

        // As the erasure does it: the credential version first, so a sign-in in flight cannot
        // leave a session behind.
        let version = users.set_disabled(id.clone(), true).await.unwrap().expect(name);
        sessions.set_credential_version(id.clone(), version).await.unwrap();
        assert_eq!(sessions.erase_user(id.clone()).await.unwrap(), 1, "{name}");
        assert!(users.delete_user(id.clone()).await.unwrap(), "{name}");
        let late = session(&user.id, 60_000);
        let created = create(&sessions, late.clone(), 0, user.credential_version).await.unwrap();
        assert!(matches!(created, SessionCreated::Stale), "{name}: a sign-in that outlived the account");
        assert!(sessions.get_session(late.token()).await.unwrap().is_none(), "{name}");
        sessions.forget_attempts(key.clone()).await.unwrap();
        assert!(!users.delete_user(id.clone()).await.unwrap(), "{name}: gone already");
        assert!(users.find_user_by_id(id.clone()).await.unwrap().is_none(), "{name}");
        assert!(users.find_user_by_email(user.email.clone()).await.unwrap().is_none(), "{name}");
        assert_eq!(users.list_login_attempts(id.clone(), 0, 10).await.unwrap().total, 0, "{name}");
        assert!(sessions.get_session(s.token()).await.unwrap().is_none(), "{name}");
        assert!(sessions.list_sessions(id.clone()).await.unwrap().is_empty(), "{name}");
        assert_eq!(
            sessions.begin_attempt(key, 1, 60_000).await.unwrap(),
            AttemptGate::Admitted,
            "{name}: the counter forgotten"
        );
        // The email is free again.
        let again = NewUser { email: user.email.clone(), ..new_user("erase") };
        assert!(users.create_user(again).await.is_ok(), "{name}: the email registers again");
    }
}
