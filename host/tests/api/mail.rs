//! Account recovery and email verification end to end: the component composes the mail, the
//! host queues it in PostgreSQL and delivers it to a real SMTP server (`smtp.rs`), and the tests
//! follow the links over HTTP. Each test has a database of its own, so no other test's host
//! delivers its mail.

use crate::smtp::SmtpServer;
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

pub async fn mail_host(database: &str, smtp: &str, env: &[(&str, &str)]) -> TestApp {
    let mut opts = Options { database_url: Some(database.to_string()), ..Options::default() }
        .arg("--smtp-url", smtp)
        .arg("--mail-from", "asm test <no-reply@asm.test>")
        .env("PUBLIC_URL", "https://auth.asm.test")
        .env("SERVICE_NAME", "Asm Test");
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    spawn_with(opts).await
}

async fn outbox(database: &str, sql: &str) -> Vec<(i64, i32, bool)> {
    let pool = sqlx::PgPool::connect(database).await.unwrap();
    let rows: Vec<(i64, i32, bool)> = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_mailed_link_end_to_end() {
    let (db, smtp) = (own_database().await, SmtpServer::start().await);
    let app = mail_host(&db, &smtp.url(), &[]).await;
    let creds = app.new_user().await;
    let old = app.login(&creds).await.token().unwrap();
    let r = app.post("/auth/password/forgot", json!({ "email": creds.email.to_uppercase() })).await;
    assert_eq!(r.status, 202, "{}", r.body);

    // Registration's verification mail, then the reset link.
    let got = smtp.wait_for(2, WAIT).await;
    let reset = got.iter().find(|m| m.token("reset").is_some()).expect("a reset mail");
    assert_eq!(reset.to, std::slice::from_ref(&creds.email));
    assert_eq!(reset.subject(), "Reset your Asm Test password");
    assert!(reset.data.contains("From: \"asm test\" <no-reply@asm.test>"), "{}", reset.data);
    assert!(reset.data.contains("multipart/alternative") && reset.data.contains("30 minutes"), "{}", reset.data);
    assert!(reset.data.contains("https://auth.asm.test/account/reset?token="), "links start at PUBLIC_URL");
    let token = reset.token("reset").unwrap();

    let new_password = "a brand new passphrase";
    let body = json!({ "token": token, "new_password": new_password });
    let r = app.post("/auth/password/reset", body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["revoked"], 1);
    assert_eq!(app.get_as(&old, "/auth/user/me").await.status, 401, "every session ended");
    assert_eq!(app.login(&creds).await.status, 401, "the old password is gone");
    let fresh = app.login_with(&client(), &creds.email, new_password).await;
    assert_eq!(fresh.status, 200);
    let me = app.get_as(&fresh.token().unwrap(), "/auth/user/me").await;
    assert_eq!(me.body["data"]["user"]["email_verified"], true, "the link proved the mailbox");

    let again = app.post("/auth/password/reset", body).await;
    assert_eq!((again.status, again.body["error"].as_str()), (400, Some("invalid or expired token")));
    for bad in ["", "x", &"A".repeat(43)] {
        let r = app.post("/auth/password/reset", json!({ "token": bad, "new_password": new_password })).await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
    }
    // The owner hears of the change, in a notice without a link.
    let notice = smtp.wait_for(3, WAIT).await.pop().unwrap();
    assert_eq!(notice.subject(), "Your Asm Test password was changed");
    assert!(notice.token("reset").is_none() && notice.data.contains("password-reset link"), "{}", notice.data);
    let sent = outbox(&db, "SELECT id, attempts, sent_at IS NOT NULL FROM outbox").await;
    assert!(sent.len() == 3 && sent.iter().all(|(_, _, sent)| *sent), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_by_mailed_link_end_to_end() {
    let (db, smtp) = (own_database().await, SmtpServer::start().await);
    let app = mail_host(&db, &smtp.url(), &[("REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let creds = app.new_user().await;
    let r = app.login(&creds).await;
    assert_eq!((r.status, r.body["error"].as_str()), (403, Some("email_not_verified")), "{}", r.body);
    assert!(r.token().is_none(), "no session before the email is verified");
    let wrong = app.login_with(&client(), &creds.email, "not the password").await;
    assert_eq!(wrong.status, 401, "a wrong password learns nothing about verification");

    let first = smtp.wait_for(1, WAIT).await[0].token("verify").expect("a verification link");
    // A new link voids the first; the resend needs a session, so a host on the same stores
    // (database and Redis keys) that does not require verification lets one in first.
    let lenient = spawn_with(
        Options { database_url: Some(db.clone()), ..Options::default() }
            .arg("--smtp-url", &smtp.url())
            .arg("--redis-key-prefix", &app.prefix)
            .env("PUBLIC_URL", "https://auth.asm.test"),
    )
    .await;
    let session = lenient.login(&creds).await.token().unwrap();
    let resend = lenient.client.post(lenient.url("/auth/email/verify/resend")).bearer_auth(&session).send().await;
    let resend = Reply::from(resend.unwrap()).await;
    assert_eq!(resend.status, 202, "{}", resend.body);
    let second = smtp.wait_for(2, WAIT).await[1].token("verify").unwrap();
    assert_ne!(first, second);
    assert_eq!(app.post("/auth/email/verify", json!({ "token": first })).await.status, 400, "voided");

    let r = app.post("/auth/email/verify", json!({ "token": second })).await;
    assert_eq!((r.status, &r.body["data"]["email_verified"]), (200, &json!(true)), "{}", r.body);
    assert_eq!(lenient.get_as(&session, "/auth/user/me").await.body["data"]["user"]["email_verified"], true);
    assert_eq!(app.login(&creds).await.status, 200, "verified, so the login passes");
    assert_eq!(app.post("/auth/email/verify", json!({ "token": second })).await.status, 400, "single use");
}

/// The mail server is down when the reset is asked for: the request answers at once, the
/// message waits in the outbox, and it is delivered once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_survives_a_mail_server_that_is_down() {
    let db = own_database().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = mail_host(&db, &format!("smtp://127.0.0.1:{port}"), &[]).await;
    let creds = app.new_user().await;
    let started = Instant::now();
    let r = app.post("/auth/password/forgot", json!({ "email": creds.email })).await;
    let took = started.elapsed();
    assert_eq!(r.status, 202);
    assert!(took < Duration::from_secs(2), "the request never waits on the mail server: {took:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let waiting = outbox(&db, "SELECT id, attempts, sent_at IS NOT NULL FROM outbox ORDER BY id").await;
    assert!(waiting.len() == 2 && waiting.iter().all(|(_, n, sent)| *n >= 1 && !sent), "{waiting:?}");

    let smtp = SmtpServer::start_on(port, Duration::ZERO).await;
    let got = smtp.wait_for(2, Duration::from_secs(30)).await;
    assert!(got.iter().any(|m| m.token("reset").is_some()), "{got:#?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let done = outbox(&db, "SELECT id, attempts, sent_at IS NOT NULL FROM outbox ORDER BY id").await;
    assert!(done.iter().all(|(_, n, sent)| *sent && *n >= 2), "retried, then sent: {done:?}");
    assert_eq!(smtp.messages().len(), 2, "each once");
}

/// Two hosts on one database, one outbox, a slow mail server: every message leaves exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_deliver_each_message_once() {
    let db = own_database().await;
    let smtp = SmtpServer::start_on(0, Duration::from_millis(100)).await;
    let a = mail_host(&db, &smtp.url(), &[("RECOVERY_MAX_PER_ADDRESS", "1000")]).await;
    let b = mail_host(&db, &smtp.url(), &[("RECOVERY_MAX_PER_ADDRESS", "1000")]).await;
    let n = 24;
    let asks = (0..n).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post("/auth/password/forgot", json!({ "email": format!("nobody-{i}@example.com") }))
    });
    for r in futures::future::join_all(asks).await {
        assert_eq!(r.status, 202);
    }
    let got = smtp.wait_for(n, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = if smtp.messages().len() > got.len() { smtp.messages() } else { got };
    let mut to: Vec<String> = got.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    let before = to.len();
    to.dedup();
    assert_eq!((before, to.len()), (n, n), "each message once");
}

/// A reset while logins with the old password are in flight: none of their sessions survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_during_logins_in_flight_leaves_no_session() {
    let (db, smtp) = (own_database().await, SmtpServer::start().await);
    let app = mail_host(&db, &smtp.url(), &[("PASSWORD_HASH", "bcrypt"), ("BCRYPT_COST", "8")]).await;
    let creds = app.new_user().await;
    app.post("/auth/password/forgot", json!({ "email": creds.email })).await;
    let token = smtp.wait_for(2, WAIT).await.iter().find_map(|m| m.token("reset")).unwrap();
    let logins = (0..8).map(|i| {
        let (app, creds) = (&app, &creds);
        async move {
            tokio::time::sleep(Duration::from_millis(i * 15)).await;
            app.login_with(&client(), &creds.email, &creds.password).await.token()
        }
    });
    let reset = app.post("/auth/password/reset", json!({ "token": token, "new_password": "a brand new passphrase" }));
    let (tokens, reset) = tokio::join!(futures::future::join_all(logins), reset);
    assert_eq!(reset.status, 200, "{}", reset.body);
    let tokens: Vec<String> = tokens.into_iter().flatten().collect();
    for t in &tokens {
        assert_eq!(app.get_as(t, "/auth/user/me").await.status, 401, "a session from the old password survived");
    }
    eprintln!("reset during logins: {} of 8 logins got a session before the reset ended it", tokens.len());
}

/// The time of `forgot` for known and unknown emails (median of 20 each, alternating). The
/// store does the same work for both (guest unit test); this measures it over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_takes_the_same_time_for_known_and_unknown_emails() {
    let (db, smtp) = (own_database().await, SmtpServer::start().await);
    let app = mail_host(&db, &smtp.url(), &[("RECOVERY_MAX_PER_ADDRESS", "1000")]).await;
    let mut known_users = Vec::new();
    for _ in 0..20 {
        known_users.push(app.new_user().await.email);
    }
    let time = |email: String| {
        let app = &app;
        async move {
            let start = Instant::now();
            let r = app.post("/auth/password/forgot", json!({ "email": email })).await;
            assert_eq!(r.status, 202);
            (start.elapsed(), r.body)
        }
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for (i, email) in known_users.into_iter().enumerate() {
        let (k, kb) = time(email).await;
        let (u, ub) = time(format!("nobody-{i}-{}@example.com", unique(""))).await;
        assert_eq!(kb, ub, "the same body");
        known.push(k);
        unknown.push(u);
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[10], unknown[10]);
    eprintln!("forgot median: known {k:?}, unknown {u:?} (20 each)");
    let gap = k.abs_diff(u);
    assert!(gap < Duration::from_millis(20) || gap < k.max(u) / 2, "known {k:?} vs unknown {u:?}");
}

/// On every host, the mail a request composes is in the outbox of the users' database when the
/// request has answered (under Spin, the adapter writes it through Spin's PostgreSQL; a native
/// host delivers it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_holds_the_mail_when_the_request_answers() {
    let app = spawn_with(Options::default().env("PUBLIC_URL", "https://auth.asm.test")).await;
    let creds = app.new_user().await;
    let r = app.post("/auth/password/forgot", json!({ "email": creds.email })).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let bodies: Vec<String> = sqlx::query_scalar("SELECT text_body FROM outbox WHERE recipient = $1 ORDER BY id")
        .bind(&creds.email)
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(bodies.len(), 2, "the verification mail, then the reset mail: {bodies:?}");
    assert!(bodies[0].contains("https://auth.asm.test/account/verify?token="), "{}", bodies[0]);
    assert!(bodies[1].contains("https://auth.asm.test/account/reset?token="), "{}", bodies[1]);
}

/// A mail server that accepts connections and never answers holds up no one: each exchange ends
/// at SMTP_TIMEOUT and the worker goes on to the next message, trying this one again later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_that_never_answers_does_not_stall_delivery() {
    let db = own_database().await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket); // kept open, never written to
        }
    });
    let app = spawn_with(
        Options { database_url: Some(db.clone()), ..Options::default() }
            .arg("--smtp-url", &format!("smtp://127.0.0.1:{port}"))
            .arg("--smtp-timeout", "1s")
            .env("PUBLIC_URL", "https://auth.asm.test"),
    )
    .await;
    let creds = app.new_user().await;
    assert_eq!(app.post("/auth/password/forgot", json!({ "email": creds.email })).await.status, 202);
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let started = Instant::now();
    loop {
        let rows: Vec<(i32, Option<String>)> =
            sqlx::query_as("SELECT attempts, last_error FROM outbox ORDER BY id").fetch_all(&pool).await.unwrap();
        let tried = rows.iter().filter(|(n, e)| *n >= 1 && e.as_deref().is_some_and(|e| e.contains("no answer")));
        if rows.len() == 2 && tried.count() == 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the worker is stuck: {rows:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pool.close().await;
    held.abort();
}

/// A stranger who floods an address with reset requests does not take recovery away from its
/// owner: requests are limited per requesting address, a cap per mailbox bounds the mail it gets,
/// and a browser that has signed in to the account is counted on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_flooding_reset_requests_does_not_lock_the_owner_out() {
    let app = spawn_with(Options::default().env("TRUSTED_PROXIES", "127.0.0.1/32")).await;
    let creds = app.new_user().await;
    let forgot = |from: &'static str, browser: reqwest::Client| {
        let (app, email) = (&app, creds.email.clone());
        async move {
            let r = browser
                .post(app.url("/auth/password/forgot"))
                .header("x-forwarded-for", from)
                .json(&json!({ "email": email }))
                .send()
                .await
                .unwrap();
            Reply::from(r).await.status
        }
    };
    for _ in 0..3 {
        assert_eq!(forgot("198.51.100.7", client()).await, 202);
    }
    assert_eq!(forgot("198.51.100.7", client()).await, 429, "the stranger's own budget for this address is spent");
    assert_eq!(forgot("203.0.113.9", client()).await, 202, "the owner, from elsewhere, can still ask");
    // Strangers from more addresses: the mailbox's cap bounds the mail it gets in a window.
    for from in ["198.51.100.8", "198.51.100.9"] {
        for _ in 0..3 {
            assert_eq!(forgot(from, client()).await, 202);
        }
    }
    assert_eq!(forgot("198.51.100.10", client()).await, 429, "10 requests for one mailbox in a window");
    // The owner's browser that has signed in before is counted on its own.
    let owner = client();
    assert_eq!(app.login_with(&owner, &creds.email, &creds.password).await.status, 200);
    assert_eq!(forgot("198.51.100.10", owner).await, 202);
}
