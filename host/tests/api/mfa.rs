//! The second factor end to end, over HTTP, with the real component and host: enrolment by QR
//! secret, confirmation, logins with a code and with a recovery code, replay across hosts,
//! parallel submissions, disabling; on PostgreSQL + Redis and on the embedded SQLite store.

use crate::support::*;
use asm_guest::totp;
use serde_json::{Value, json};

/// The current TOTP code of a base32 secret, `steps` steps ahead.
fn code(secret: &str, steps: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    totp::code_at(&totp::from_base32(secret).unwrap(), (now / 30 + steps) as u64)
}

async fn authed(app: &TestApp, token: &str, method: reqwest::Method, path: &str, body: Value) -> Reply {
    let resp = reqwest::Client::new().request(method, app.url(path)).bearer_auth(token).json(&body).send().await;
    Reply::from(resp.expect("request sent")).await
}

/// Registers, logs in and turns TOTP on; the session token, the base32 secret and the codes.
pub async fn enrolled(app: &TestApp, creds: &Creds) -> (String, String, Vec<String>) {
    let session = app.login(creds).await.token().unwrap();
    let r =
        authed(app, &session, reqwest::Method::POST, "/auth/user/totp", json!({ "password": creds.password })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["data"]["secret"].as_str().unwrap().to_string();
    let uri = r.body["data"]["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(r.body["data"]["qr_svg"].as_str().unwrap().contains("<svg"));
    // The code of the next step: the confirming one must not be the one a login uses next.
    let r =
        authed(app, &session, reqwest::Method::POST, "/auth/user/totp/confirm", json!({ "code": code(&secret, -1) }))
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let codes = serde_json::from_value(r.body["data"]["recovery_codes"].clone()).unwrap();
    (session, secret, codes)
}

async fn mfa_token(app: &TestApp, creds: &Creds) -> String {
    let r = app.login_with(&client(), &creds.email, &creds.password).await;
    assert_eq!((r.status, &r.body["data"]["mfa_required"]), (200, &json!(true)), "{}", r.body);
    assert!(r.token().is_none(), "no session before the second factor");
    r.body["data"]["mfa_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_end_to_end_on_postgres_redis_and_sqlite() {
    for opts in [
        Options::default(),
        Options { database_url: Some(sqlite_url()), redis_url: Some(String::new()), ..Options::default() },
    ] {
        let app = spawn_with(opts).await;
        let creds = app.new_user().await;
        let (session, secret, codes) = enrolled(&app, &creds).await;
        assert_eq!(app.get_as(&session, "/auth/user/me").await.body["data"]["user"]["mfa_enabled"], true);

        let token = mfa_token(&app, &creds).await;
        let r =
            app.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "code": code(&secret, 0) })).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let with_code = r.token().unwrap();
        let sessions = app.get_as(&with_code, "/auth/user/sessions").await;
        let current = sessions.body["data"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current_session"] == true)
            .cloned();
        assert_eq!(current.unwrap()["mfa"], true);

        let token = mfa_token(&app, &creds).await;
        let r =
            app.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "recovery_code": codes[0] })).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let token = mfa_token(&app, &creds).await;
        let again =
            app.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "recovery_code": codes[0] })).await;
        assert_eq!(again.status, 401, "a recovery code works once");
        let history = app.get_as(&with_code, "/auth/user/logins").await;
        let outcomes: Vec<&str> =
            history.body["data"]["logins"].as_array().unwrap().iter().map(|l| l["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes[..2], ["mfa_failed", "recovery_code"], "{outcomes:?}");

        let off =
            authed(&app, &with_code, reqwest::Method::DELETE, "/auth/user/totp", json!({ "password": creds.password }))
                .await;
        assert_eq!(off.status, 200, "{}", off.body);
        let plain = app.login_with(&client(), &creds.email, &creds.password).await;
        assert!(plain.status == 200 && plain.token().is_some(), "{}", plain.body);
        app.shutdown().await;
    }
}

/// Each change to the second factor, and each sign-in with a recovery code, reaches the
/// account's mailbox at a real SMTP server, through the outbox, with no secret in it; a sign-in
/// with an ordinary code sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_changes_are_mailed_to_the_owner() {
    let (db, smtp) = (own_database().await, crate::smtp::SmtpServer::start().await);
    let app = crate::mail::mail_host(&db, &smtp.url(), &[]).await;
    let creds = app.new_user().await;
    let (smtp, owner) = (&smtp, std::slice::from_ref(&creds.email));
    let subjects = |n: usize| async move {
        let got = smtp.wait_for(n, std::time::Duration::from_secs(20)).await;
        assert!(got.iter().all(|m| m.to == owner), "{got:#?}");
        got.iter().map(|m| m.subject().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(subjects(1).await.len(), 1, "the verification mail");

    let (session, secret, codes) = enrolled(&app, &creds).await;
    let token = mfa_token(&app, &creds).await;
    let r = app.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "code": code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = mfa_token(&app, &creds).await;
    let r = app.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "recovery_code": codes[0] })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let password = json!({ "password": creds.password });
    let r = authed(&app, &session, reqwest::Method::POST, "/auth/user/recovery-codes", password.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh: Vec<String> = serde_json::from_value(r.body["data"]["recovery_codes"].clone()).unwrap();
    let r = authed(&app, &session, reqwest::Method::DELETE, "/auth/user/totp", password).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let mut got = subjects(5).await;
    got.sort();
    assert_eq!(
        got,
        [
            "A recovery code was used to sign in to Asm Test",
            "Confirm your email address for Asm Test",
            "New recovery codes for your Asm Test account",
            "Two-step verification is on for your Asm Test account",
            "Two-step verification was turned off for your Asm Test account",
        ]
        .map(String::from),
        "one notice per change, none for the sign-in with a code"
    );
    for m in smtp.messages() {
        let secrets = codes.iter().chain(&fresh).chain([&secret]);
        assert!(secrets.into_iter().all(|s| !m.data.contains(s.as_str())), "a notice carries no secret: {}", m.data);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 5, "nothing more");
    app.shutdown().await;
}

/// Two hosts on one database and one Redis: a code accepted through one is refused through the
/// other (the last accepted step is in the store), and of parallel submissions of one code with
/// one token, one logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_accepted_once_across_hosts_and_parallel_submissions() {
    let a = spawn().await;
    let b = spawn_with(Options::default().arg("--redis-key-prefix", &a.prefix)).await;
    let creds = a.new_user().await;
    let (_, secret, _) = enrolled(&a, &creds).await;
    let now = code(&secret, 0);
    let token = mfa_token(&a, &creds).await;
    let first = a.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "code": now })).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let token = mfa_token(&b, &creds).await;
    let replay = b.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "code": now })).await;
    assert_eq!(replay.status, 401, "replayed on another host: {}", replay.body);

    let next = code(&secret, 1);
    let token = mfa_token(&b, &creds).await;
    let clients: Vec<reqwest::Client> = (0..8).map(|_| client()).collect();
    let tries = clients.iter().enumerate().map(|(i, c)| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post_with(c, "/auth/login/mfa", json!({ "mfa_token": token, "code": next }))
    });
    let statuses: Vec<u16> = futures::future::join_all(tries).await.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
}

/// The secret is not in the database in the clear, and a host without the key that sealed it
/// says which setting is missing, while recovery codes (hashed, not sealed) still let the user in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_at_rest_and_a_lost_key_leaves_recovery_codes() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let (_, secret, codes) = enrolled(&app, &creds).await;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (stored, hashes): (String, i64) = sqlx::query_as(
        "SELECT u.totp_secret, (SELECT count(*) FROM recovery_codes r WHERE r.user_id = u.id) FROM users u WHERE email = $1",
    )
    .bind(&creds.email)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    // Sealed: a format byte, a nonce, 20 bytes of ciphertext and a tag, in base64 (84 characters),
    // not the 32 characters of the secret.
    assert!(!stored.contains(&secret) && stored.len() == 84, "sealed: {stored}");
    assert_eq!(hashes, 10);

    let other_key = "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M=";
    let lost =
        spawn_with(Options::default().arg("--redis-key-prefix", &app.prefix).arg("--secret-key", other_key)).await;
    let token = mfa_token(&lost, &creds).await;
    let r = lost.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "code": code(&secret, 0) })).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("ASM_PREVIOUS_SECRET_KEYS"), "{}", r.body);
    let token = mfa_token(&lost, &creds).await;
    let r =
        lost.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "recovery_code": codes[1] })).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // With the old key kept as a previous one, codes work again.
    let rotated = spawn_with(
        Options::default()
            .arg("--redis-key-prefix", &app.prefix)
            .arg("--secret-key", other_key)
            .arg("--previous-secret-keys", TEST_SECRET_KEY),
    )
    .await;
    let token = mfa_token(&rotated, &creds).await;
    let r =
        rotated.post_with(&client(), "/auth/login/mfa", json!({ "mfa_token": token, "code": code(&secret, 1) })).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A six-digit code that is none of the codes of the steps a login accepts now.
fn wrong_code(secret: &str) -> String {
    let accepted: Vec<String> = (-1..=1).map(|s| code(secret, s)).collect();
    (0..).map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000)).find(|c| !accepted.contains(c)).unwrap()
}

/// Someone who knows the password and kept the device cookies of earlier logins gets no more
/// guesses at the second factor than anyone else: one budget per account, however many cookies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_device_cookies_buy_no_extra_guesses_at_the_code() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let mut kept = Vec::new();
    for _ in 0..5 {
        let browser = client();
        assert_eq!(app.login_with(&browser, &creds.email, &creds.password).await.status, 200);
        kept.push(browser);
    }
    let (_, secret, _) = enrolled(&app, &creds).await;
    let wrong = wrong_code(&secret);
    let mut checked = 0;
    for browser in kept.iter().cloned().chain([client()]) {
        'logins: for _ in 0..5 {
            let r = app.login_with(&browser, &creds.email, &creds.password).await;
            if r.status == 429 {
                break;
            }
            assert_eq!(r.status, 200, "{}", r.body);
            let token = r.body["data"]["mfa_token"].as_str().unwrap().to_string();
            for _ in 0..6 {
                let r = app.post_with(&browser, "/auth/login/mfa", json!({ "mfa_token": token, "code": wrong })).await;
                match r.status {
                    401 => checked += 1,
                    429 => break 'logins,
                    other => panic!("a wrong code got {other}: {}", r.body),
                }
            }
        }
    }
    eprintln!("wrong codes checked with 5 kept device cookies and a stranger: {checked}");
    assert_eq!(checked, 5, "one budget for the account's second factor");
}

/// Codes at the confirmation of an enrolment are limited like those of a login's second step: a
/// stolen session cannot try every code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_at_totp_confirmation_are_limited() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let session = app.login(&creds).await.token().unwrap();
    let r =
        authed(&app, &session, reqwest::Method::POST, "/auth/user/totp", json!({ "password": creds.password })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["data"]["secret"].as_str().unwrap().to_string();
    let wrong = wrong_code(&secret);
    for _ in 0..5 {
        let r =
            authed(&app, &session, reqwest::Method::POST, "/auth/user/totp/confirm", json!({ "code": wrong })).await;
        assert_eq!(r.status, 400, "{}", r.body);
    }
    let r =
        authed(&app, &session, reqwest::Method::POST, "/auth/user/totp/confirm", json!({ "code": code(&secret, 0) }))
            .await;
    assert_eq!(r.status, 429, "past the limit even the right code waits: {}", r.body);
    assert!(r.header("retry-after").is_some());
}
