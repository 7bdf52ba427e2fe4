//! One contract, every backend: the store operations of `wit/asm.wit` checked directly against
//! PostgreSQL + Redis, the embedded SQLite store and the in-memory reference store, including
//! the atomic ones under concurrency.

use crate::support::*;
use asm_contract::*;
use asm_host::stores::{now_ms, postgres, redis, sqlite::SqliteStore};
use asm_stores::memory::MemoryStore;
use std::sync::Arc;
use std::time::Duration;

type Backend = (&'static str, Arc<dyn UserStore>, Arc<dyn SessionStore>);

async fn backends() -> Vec<Backend> {
    let timeout = Duration::from_secs(2);
    let pg: Arc<dyn UserStore> = Arc::new(postgres::connect(&database_url(), timeout, 8).unwrap());
    let redis: Arc<dyn SessionStore> =
        Arc::new(redis::connect(&redis_url(), &format!("{}:", unique("asm-conf-")), timeout).unwrap());
    let sqlite = Arc::new(SqliteStore::open(&sqlite_url(), timeout).await.unwrap());
    let memory = Arc::new(MemoryStore::new());
    vec![("postgres+redis", pg, redis), ("sqlite", sqlite.clone(), sqlite), ("memory", memory.clone(), memory)]
}

fn hash(s: &Session) -> TokenHash {
    TokenHash::from(s.token_hash.clone())
}

fn ids(list: Vec<Session>) -> Vec<String> {
    let mut ids: Vec<String> = list.into_iter().map(|s| s.id).collect();
    ids.sort();
    ids
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
        token_hash: asm_guest::token::hex_sha256(unique("token").as_bytes()),
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
        users.update_password(id.clone(), "new-hash".into()).await.unwrap();
        let again = users.find_user_by_id(id).await.unwrap().unwrap();
        assert_eq!((again.last_login, again.password_hash.as_str()), (Some(1_700_000_000_123), "new-hash"), "{name}");
        users.ping().await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_history_is_paged_newest_first() {
    for (name, users, _) in backends().await {
        let user = users.create_user(new_user("hist")).await.unwrap();
        let outcomes = [LoginOutcome::InvalidCredentials, LoginOutcome::Locked, LoginOutcome::Success];
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let attempt = LoginAttempt {
                id: String::new(),
                user_id: user.id.clone(),
                outcome,
                ip_address: "203.0.113.7".into(),
                user_agent: "ua".into(),
                device_info: "Test 1 on Linux".into(),
                location: "Local".into(),
                at: 1_700_000_000_000 + i as i64 * 1000,
            };
            users.record_login_attempt(attempt).await.unwrap();
        }
        let id = UserId::from(user.id.clone());
        let page = users.list_login_attempts(id.clone(), 0, 2).await.unwrap();
        assert_eq!(page.total, 3, "{name}");
        let outcomes: Vec<LoginOutcome> = page.attempts.iter().map(|a| a.outcome).collect();
        assert_eq!(outcomes, [LoginOutcome::Success, LoginOutcome::Locked], "{name}");
        assert_eq!(page.attempts[0].at, 1_700_000_002_000, "{name}");
        let rest = users.list_login_attempts(id.clone(), 2, 2).await.unwrap();
        assert_eq!((rest.total, rest.attempts.len()), (3, 1), "{name}");
        assert_eq!(rest.attempts[0].outcome, LoginOutcome::InvalidCredentials, "{name}");
        assert_eq!(users.list_login_attempts(id, 10, 2).await.unwrap().total, 3, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_stored_indexed_touched_and_ended() {
    for (name, _, sessions) in backends().await {
        let user = UserId::from(unique("user"));
        let a = session(user.as_str(), 60_000);
        let b = session(user.as_str(), 60_000);
        assert!(sessions.create_session(a.clone(), 0).await.unwrap().is_empty(), "{name}");
        sessions.create_session(b.clone(), 0).await.unwrap();
        assert_eq!(sessions.get_session(hash(&a)).await.unwrap().as_ref(), Some(&a), "{name}: round trip");
        assert!(sessions.get_session("0".repeat(64).into()).await.unwrap().is_none(), "{name}");
        let mut expected = vec![a.id.clone(), b.id.clone()];
        expected.sort();
        assert_eq!(ids(sessions.list_sessions(user.clone()).await.unwrap()), expected, "{name}");
        assert!(sessions.list_sessions(unique("nobody").into()).await.unwrap().is_empty(), "{name}");

        let later = a.last_activity + 5_000;
        assert!(sessions.touch_session(hash(&a), later, a.expires_at).await.unwrap(), "{name}");
        assert_eq!(sessions.get_session(hash(&a)).await.unwrap().unwrap().last_activity, later, "{name}");
        assert!(!sessions.touch_session("f".repeat(64).into(), later, a.expires_at).await.unwrap(), "{name}");

        assert!(sessions.delete_session(user.clone(), hash(&b)).await.unwrap(), "{name}");
        assert!(!sessions.delete_session(user.clone(), hash(&b)).await.unwrap(), "{name}: only once");
        assert!(sessions.get_session(hash(&b)).await.unwrap().is_none(), "{name}");
        assert_eq!(sessions.list_sessions(user.clone()).await.unwrap().len(), 1, "{name}: gone from the index");

        let c = session(user.as_str(), 60_000);
        let d = session(user.as_str(), 60_000);
        sessions.create_session(c.clone(), 0).await.unwrap();
        sessions.create_session(d.clone(), 0).await.unwrap();
        assert_eq!(sessions.delete_other_sessions(user.clone(), hash(&c)).await.unwrap(), 2, "{name}");
        assert_eq!(ids(sessions.list_sessions(user).await.unwrap()), vec![c.id.clone()], "{name}");
        sessions.ping().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_idle_ones_end_at_keep_until() {
    for (name, _, sessions) in backends().await {
        let user = UserId::from(unique("user"));
        let short = session(user.as_str(), 300);
        let idle = session(user.as_str(), 60_000);
        let long = session(user.as_str(), 60_000);
        for s in [&short, &idle, &long] {
            sessions.create_session(s.clone(), 0).await.unwrap();
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
    for (name, _, sessions) in backends().await {
        let user = UserId::from(unique("user"));
        let mut all = Vec::new();
        for i in 0..3 {
            let mut s = session(user.as_str(), 60_000);
            s.last_activity += i * 10;
            sessions.create_session(s.clone(), 0).await.unwrap();
            all.push(s);
        }
        // The oldest is used again, so the second becomes the least recently active.
        sessions.touch_session(hash(&all[0]), all[2].last_activity + 10, all[0].expires_at).await.unwrap();
        let mut newest = session(user.as_str(), 60_000);
        newest.last_activity = all[2].last_activity + 20;
        let mut evicted = sessions.create_session(newest.clone(), 2).await.unwrap();
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
async fn attempts_count_atomically_within_their_window() {
    for (name, _, sessions) in backends().await {
        let key = unique("attempts");
        let counts = futures::future::join_all((0..40).map(|_| {
            let sessions = sessions.clone();
            let key = key.clone();
            async move { sessions.count_attempt(key, 60_000).await.unwrap() }
        }))
        .await;
        let mut seen: Vec<u32> = counts.iter().map(|a| a.count).collect();
        seen.sort();
        assert_eq!(seen, (1..=40).collect::<Vec<_>>(), "{name}: every count exactly once");
        assert!(counts.iter().all(|a| a.retry_after_ms > 0 && a.retry_after_ms <= 60_000), "{name}");

        sessions.uncount_attempt(key.clone()).await.unwrap();
        assert_eq!(sessions.count_attempt(key.clone(), 60_000).await.unwrap().count, 40, "{name}: one taken back");
        sessions.reset_attempts(key.clone()).await.unwrap();
        assert_eq!(sessions.count_attempt(key.clone(), 60_000).await.unwrap().count, 1, "{name}: reset");
        let zero = unique("attempts");
        sessions.uncount_attempt(zero.clone()).await.unwrap();
        assert_eq!(sessions.count_attempt(zero.clone(), 60_000).await.unwrap().count, 1, "{name}: never below zero");

        let short = unique("attempts");
        sessions.count_attempt(short.clone(), 200).await.unwrap();
        sessions.count_attempt(short.clone(), 200).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sessions.count_attempt(short.clone(), 200).await.unwrap().count, 1, "{name}: a new window");
    }
}
