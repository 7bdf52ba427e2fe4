//! Events and signed webhooks end to end: every event type from the route that makes it, read
//! at `GET /admin/events` and delivered to a real HTTP receiver, signatures checked by the
//! Standard Webhooks reference library; a receiver that is down, two hosts on one outbox, and a
//! store that fails between an event and its change.

use crate::faults::{Relay, free_port};
use crate::receiver::{Delivery, Receiver, SECRET, verify_with_reference_library};
use crate::smtp::SmtpServer;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TOKEN: &str = "an-operator-token-for-the-event-tests-1";

/// Webhooks to the receiver (host flags), and the operators' token (a component setting).
fn with_webhooks(opts: Options, receiver: &Receiver) -> Options {
    opts.arg("--webhook-url", &receiver.url()).arg("--webhook-secret", SECRET).env("ADMIN_TOKEN", TOKEN)
}

async fn admin(app: &TestApp, method: reqwest::Method, path: &str) -> Reply {
    let resp = reqwest::Client::new().request(method, app.url(path)).bearer_auth(TOKEN).send().await.unwrap();
    Reply::from(resp).await
}

/// Every event of an account, oldest first, as `GET /admin/events` pages through them.
async fn events_of(app: &TestApp, user: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = admin(app, reqwest::Method::GET, &format!("/admin/events?user_id={user}&limit=5{cursor}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        all.extend(r.body["data"]["events"].as_array().unwrap().iter().cloned());
        match r.body["data"]["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    all.reverse();
    all
}

async fn newest_type(app: &TestApp, user: &str) -> String {
    let r = admin(app, reqwest::Method::GET, &format!("/admin/events?user_id={user}&limit=1")).await;
    r.body["data"]["events"][0]["type"].as_str().unwrap_or("none").to_string()
}

async fn authed(app: &TestApp, token: &str, method: reqwest::Method, path: &str, body: Value) -> Reply {
    let resp = reqwest::Client::new().request(method, app.url(path)).bearer_auth(token).json(&body).send().await;
    Reply::from(resp.unwrap()).await
}

/// The deliveries of one account, in the order they arrived.
fn of_user<'d>(deliveries: &'d [Delivery], user: &str) -> Vec<&'d Delivery> {
    deliveries.iter().filter(|d| d.user_id().as_deref() == Some(user)).collect()
}

/// One table, one account: each step is the route that must produce the event beside it, checked
/// as the account's newest event. Every type of API.md is produced (passkeys and providers, once
/// they exist, must join the table), every delivery arrives in order, once, and the reference
/// library verifies each signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_comes_from_its_route_and_is_delivered_signed() {
    let receiver = Receiver::start().await;
    let (db, smtp) = (own_database().await, SmtpServer::start().await);
    let opts = Options { database_url: Some(db.clone()), ..Options::default() }
        .arg("--smtp-url", &smtp.url())
        .arg("--mail-from", "asm test <no-reply@asm.test>")
        .env("PUBLIC_URL", "https://auth.asm.test");
    let app = spawn_with(with_webhooks(opts, &receiver)).await;
    let mut creds = Creds {
        email: format!("{}@example.com", unique("ev")),
        username: unique("ev")[..16].to_string(),
        password: "correct horse battery".into(),
    };
    let mut seen: Vec<&str> = Vec::new();
    macro_rules! expect {
        ($id:expr, $type:literal) => {{
            assert_eq!(newest_type(&app, $id).await, $type);
            seen.push($type);
        }};
    }

    let r = app
        .register(
            json!({ "email": creds.email, "username": creds.username, "password": creds.password, "full_name": "Ev" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["data"]["id"].as_str().unwrap().to_string();
    expect!(&id, "user.created");

    let verify = smtp.wait_for(1, Duration::from_secs(20)).await.pop().unwrap().token("verify").unwrap();
    assert_eq!(app.post("/auth/email/verify", json!({ "token": verify })).await.status, 200);
    expect!(&id, "user.email_verified");

    let session = app.login(&creds).await.token().unwrap();
    expect!(&id, "session.created");
    assert_eq!(app.login_with(&client(), &creds.email, "a wrong guess").await.status, 401);
    expect!(&id, "login.failed");

    let changed = authed(
        &app,
        &session,
        reqwest::Method::POST,
        "/auth/user/password",
        json!({ "current_password": creds.password, "new_password": "a second good passphrase" }),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    creds.password = "a second good passphrase".into();
    expect!(&id, "user.password_changed");

    assert_eq!(app.post("/auth/password/forgot", json!({ "email": creds.email })).await.status, 202);
    let start = Instant::now();
    let reset = loop {
        if let Some(token) = smtp.messages().iter().find_map(|m| m.token("reset")) {
            break token;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no reset link");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let r =
        app.post("/auth/password/reset", json!({ "token": reset, "new_password": "a third good passphrase" })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    creds.password = "a third good passphrase".into();
    expect!(&id, "user.password_reset");

    let (session, _, _) = crate::mfa::enrolled(&app, &creds).await;
    expect!(&id, "mfa.enabled");
    let off =
        authed(&app, &session, reqwest::Method::DELETE, "/auth/user/totp", json!({ "password": creds.password })).await;
    assert_eq!(off.status, 200, "{}", off.body);
    expect!(&id, "mfa.disabled");
    assert_eq!(authed(&app, &session, reqwest::Method::POST, "/auth/logout", json!({})).await.status, 200);
    expect!(&id, "session.revoked");

    let session = app.login(&creds).await.token().unwrap();
    let target = format!("{}@example.com", unique("moved"));
    let asked = authed(
        &app,
        &session,
        reqwest::Method::POST,
        "/auth/user/email",
        json!({ "new_email": target, "password": creds.password }),
    )
    .await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let start = Instant::now();
    let link = loop {
        if let Some(m) = smtp.messages().iter().find(|m| m.to == [target.clone()]) {
            break m.token("email").expect("a link in the mail to the new address");
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no mail to the new address");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(app.post("/auth/email/change", json!({ "token": link })).await.status, 200);
    creds.email = target;
    expect!(&id, "user.email_changed");

    assert_eq!(admin(&app, reqwest::Method::POST, &format!("/admin/users/{id}/disable")).await.status, 200);
    expect!(&id, "user.disabled");
    assert_eq!(admin(&app, reqwest::Method::POST, &format!("/admin/users/{id}/enable")).await.status, 200);
    expect!(&id, "user.enabled");

    for _ in 0..5 {
        assert_eq!(app.login_with(&client(), &creds.email, "wrong again").await.status, 401);
    }
    assert_eq!(app.login_with(&client(), &creds.email, "wrong again").await.status, 429);
    expect!(&id, "login.locked");

    assert_eq!(admin(&app, reqwest::Method::DELETE, &format!("/admin/users/{id}")).await.status, 200);
    expect!(&id, "user.deleted");

    // Every type of the contract, but those of features still to come.
    let later = ["passkey.added", "passkey.removed", "identity.linked", "identity.unlinked"];
    for t in asm_contract::EventType::ALL.iter().map(|t| t.as_str()).filter(|t| !later.contains(t)) {
        assert!(seen.contains(&t), "{t} is produced by no step of the table");
    }

    // The erased account's trail keeps ids, types and times only.
    let trail = events_of(&app, &id).await;
    assert!(trail.iter().all(|e| e["data"] == json!({}) && e["ip_address"] == ""), "{trail:#?}");
    assert!(!serde_json::to_string(&trail).unwrap().contains(&creds.email));

    // Delivered: each event once, in order, signed.
    let expected: Vec<String> = trail.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    let got = receiver.wait_until(Duration::from_secs(30), |d| of_user(d, &id).len() >= expected.len()).await;
    let mine: Vec<String> = of_user(&got, &id).iter().map(|d| d.id.clone()).collect();
    assert_eq!(mine, expected, "each event once, in the order of the trail");
    assert!(got.iter().all(|d| d.json()["data"]["id"] == d.id), "webhook-id is the event's id");
    assert_eq!(verify_with_reference_library(&got, SECRET), got.len());
    // The same deliveries under another key, or with a body changed, verify as nothing.
    assert_eq!(verify_with_reference_library(&got, "whsec_QW5vdGhlciBrZXksIG5vdCB0aGUgc2VydmljZSdzIQ=="), 0);
    let tampered: Vec<Delivery> =
        got.iter().map(|d| Delivery { body: d.body.replacen("\"type\"", "\"type\" ", 1), ..d.clone() }).collect();
    assert_eq!(verify_with_reference_library(&tampered, SECRET), 0);
    let first_created = got.iter().find(|d| d.event_type() == "user.created").unwrap();
    assert_eq!(first_created.json()["data"]["user_id"], id);
}

/// A receiver that is down: requests still answer at once; when it is back, every event
/// arrives, once, each account's in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_every_event_once_and_in_order() {
    let receiver = Receiver::start().await;
    receiver.set_down(true);
    let app = spawn_with(with_webhooks(Options::default(), &receiver)).await;
    let mut users = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let creds = app.new_user().await;
        let token = app.login(&creds).await.token().unwrap();
        assert_eq!(app.get_as(&token, "/auth/user/me").await.body["data"]["user"]["email"], creds.email.as_str());
        let out = reqwest::Client::new().post(app.url("/auth/logout")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(out.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(5), "requests do not wait for the receiver");
        users.push(creds);
    }
    let ids: Vec<String> = futures::future::join_all(users.iter().map(|c| user_id(&app, &c.email))).await;
    // Tried while down, and refused.
    let start = Instant::now();
    while receiver.refused() == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "no delivery was tried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receiver.deliveries().is_empty());
    receiver.set_down(false);
    let mut expected = BTreeMap::new();
    for id in &ids {
        expected.insert(
            id.clone(),
            events_of(&app, id).await.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect::<Vec<_>>(),
        );
    }
    let total: usize = expected.values().map(Vec::len).sum();
    assert_eq!(total, 9, "created, session created, session revoked, for each of 3: {expected:?}");
    let got = receiver
        .wait_until(Duration::from_secs(90), |d| ids.iter().map(|id| of_user(d, id).len()).sum::<usize>() >= total)
        .await;
    for id in &ids {
        let arrived: Vec<String> = of_user(&got, id).iter().map(|d| d.id.clone()).collect();
        assert_eq!(&arrived, &expected[id], "account {id}: each once, in order");
    }
    assert_eq!(verify_with_reference_library(&got, SECRET), got.len());
    let metrics = reqwest::get(&app.metrics).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("asm_outbox_delivered_total{kind=\"webhook\"}"), "{metrics}");
    assert!(metrics.contains("asm_outbox_retries_total{kind=\"webhook\"}"), "{metrics}");
}

async fn user_id(app: &TestApp, email: &str) -> String {
    let q = email.replace('@', "%40");
    let r = admin(app, reqwest::Method::GET, &format!("/admin/users?q={q}")).await;
    r.body["data"]["users"][0]["id"].as_str().expect("the account").to_string()
}

/// Two hosts on one database and one outbox: each event is delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_one_outbox_deliver_each_event_once() {
    let receiver = Receiver::start().await;
    let db = own_database().await;
    let opts = || with_webhooks(Options { database_url: Some(db.clone()), ..Options::default() }, &receiver);
    let (one, two) = (spawn_with(opts()).await, spawn_with(opts()).await);
    let mut made = 0;
    for app in [&one, &two, &one, &two] {
        let creds = app.new_user().await;
        app.login(&creds).await.token().unwrap();
        made += 2;
    }
    receiver.wait_until(Duration::from_secs(30), |d| d.len() >= made).await;
    // Time for a second delivery of anything, were there one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = receiver.deliveries();
    let mut ids: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (made, made), "every event once: {ids:?}");
    assert_eq!(verify_with_reference_library(&got, SECRET), made);
}

/// The event is written before its change. The session store down between them: the request
/// answers 503, the event is taken back, the session lives. The events' store down: no event,
/// no change. Either way no change is without its event, and logging out works once the store
/// is back, with its event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failing_between_an_event_and_its_change_leaves_neither() {
    let redis_port = free_port();
    let redis_upstream: SocketAddr = "127.0.0.1:6379".parse().unwrap();
    let pg_port = free_port();
    let pg_upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let (redis_relay, pg_relay) =
        (Relay::start(redis_port, redis_upstream).await, Relay::start(pg_port, pg_upstream).await);
    let db = own_database().await;
    let name = db.rsplit('/').next().unwrap().to_string();
    let opts = Options {
        database_url: Some(format!("postgres://postgres@127.0.0.1:{pg_port}/{name}")),
        redis_url: Some(format!("redis://127.0.0.1:{redis_port}/0")),
        ..Options::default()
    }
    .env("ADMIN_TOKEN", TOKEN)
    .arg("--store-timeout", "1s");
    let app = spawn_with(opts).await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    let id = user_id(&app, &creds.email).await;
    let logout = || async {
        let r = reqwest::Client::new().post(app.url("/auth/logout")).bearer_auth(&token).send().await.unwrap();
        r.status().as_u16()
    };
    let revoked = |events: &[Value]| events.iter().filter(|e| e["type"] == "session.revoked").count();

    // The session store goes between the event and the change.
    redis_relay.stop().await;
    assert_eq!(logout().await, 503);
    let redis_relay = Relay::start(redis_port, redis_upstream).await;
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 200, "the session lives");
    assert_eq!(revoked(&events_of(&app, &id).await), 0, "and no event says it ended");

    // The events' store is down: nothing is written, nothing changes.
    pg_relay.stop().await;
    assert_eq!(logout().await, 503);
    let _pg_relay = Relay::start(pg_port, pg_upstream).await;
    let start = Instant::now();
    while app.get("/readyz").await.status != 200 {
        assert!(start.elapsed() < Duration::from_secs(10), "PostgreSQL back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 200, "the session still lives");
    assert_eq!(revoked(&events_of(&app, &id).await), 0);

    assert_eq!(logout().await, 200);
    assert_eq!(revoked(&events_of(&app, &id).await), 1, "the change, with its event");
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 401);
    drop(redis_relay);
}

/// A failed sign-in for an address without an account is an event too (the same work as for one
/// with an account), naming no account; the admin API filters and pages, and refuses bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_filters_pages_and_names_no_one_who_has_no_account() {
    let app = spawn_with(Options::default().env("ADMIN_TOKEN", TOKEN)).await;
    let stranger = format!("{}@example.com", unique("nobody"));
    assert_eq!(app.login_with(&client(), &stranger, "any guess").await.status, 401);
    let r = admin(&app, reqwest::Method::GET, "/admin/events?type=login.failed&limit=100").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let failed = r.body["data"]["events"].as_array().unwrap();
    assert!(failed.iter().any(|e| e["user_id"].is_null()), "{failed:?}");
    assert!(failed.iter().all(|e| e["type"] == "login.failed"));
    assert!(!r.body.to_string().contains(&stranger), "the address is not written");
    for bad in ["type=user.nothing", "limit=0", "limit=101", "cursor=abc", "cursor=-4"] {
        let r = admin(&app, reqwest::Method::GET, &format!("/admin/events?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let anonymous = reqwest::get(app.url("/admin/events")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
}
