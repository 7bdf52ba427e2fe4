//! Credentials under attack and under load: logins racing a password change, parallel correct
//! logins, and a stranger's guesses against the owner's known browser.

use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// Backends the race runs against: PostgreSQL + Redis, and the embedded SQLite store (under
/// Spin, its adapter on PostgreSQL + Redis).
fn backends() -> Vec<(&'static str, Options)> {
    if crate::spin::target_is_spin() {
        return vec![("spin", Options::default())];
    }
    vec![
        ("postgres+redis", Options::default()),
        ("sqlite", Options { database_url: Some(sqlite_url()), redis_url: Some(String::new()), ..Options::default() }),
    ]
}

/// Logins with the old password that are in flight while the password changes leave no
/// session behind, however their steps interleave with the change's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_in_flight_do_not_survive_a_password_change() {
    for (name, opts) in backends() {
        // At cost 12 a check takes about a third of a second, so the logins overlap the change.
        let app =
            spawn_with(opts.env("PASSWORD_HASH", "bcrypt").env("BCRYPT_COST", "12").env("LOGIN_MAX_ATTEMPTS", "50"))
                .await;
        let creds = app.new_user().await;
        assert_eq!(app.login(&creds).await.status, 200);
        let change = tokio::spawn({
            let (client, url, old) = (app.client.clone(), app.url("/auth/user/password"), creds.password.clone());
            async move {
                let body = json!({ "current_password": old, "new_password": "a completely new secret" });
                let r = client.post(url).json(&body).send().await.unwrap();
                (r.status().as_u16(), Instant::now())
            }
        });
        // Spread over the change (a check, a hash, then the update), so some logins read the old
        // hash before the update and would store their session after the other sessions end.
        let mut logins = Vec::new();
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(80)).await;
            let (url, email, password) = (app.url("/auth/login"), creds.email.clone(), creds.password.clone());
            logins.push(tokio::spawn(async move {
                let body = json!({ "email": email, "password": password });
                Reply::from(client().post(url).json(&body).send().await.unwrap()).await
            }));
        }
        let (changed, changed_at) = change.await.unwrap();
        assert_eq!(changed, 200, "{name}");
        let (mut succeeded, mut refused) = (0, 0);
        for login in logins {
            let r = login.await.unwrap();
            assert!(r.status == 200 || r.status == 401, "{name}: {} {}", r.status, r.body);
            refused += usize::from(r.status == 401);
            if let Some(token) = r.token() {
                succeeded += 1;
                assert_eq!(
                    app.get_as(&token, "/auth/user/me").await.status,
                    401,
                    "{name}: a session of the old password outlived the change"
                );
            }
        }
        eprintln!(
            "{name}: of 8 logins with the old password during the change, {succeeded} answered 200 and {refused} 401; \
             none kept a session ({:?} after the change)",
            changed_at.elapsed()
        );
        assert_eq!(app.login_with(&client(), &creds.email, &creds.password).await.status, 401, "{name}");
        assert_eq!(app.login_with(&client(), &creds.email, "a completely new secret").await.status, 200, "{name}");
    }
}

/// Parallel logins with the right password wait for each other instead of locking the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_correct_logins_are_not_locked_out() {
    let app = spawn_with(Options::default().env("PASSWORD_HASH", "bcrypt").env("BCRYPT_COST", "10")).await;
    let creds = app.new_user().await;
    let logins: Vec<_> = (0..10)
        .map(|_| {
            let (url, email, password) = (app.url("/auth/login"), creds.email.clone(), creds.password.clone());
            tokio::spawn(async move {
                let body = json!({ "email": email, "password": password });
                client().post(url).json(&body).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for l in logins {
        statuses.push(l.await.unwrap());
    }
    assert_eq!(statuses, vec![200; 10], "10 parallel correct logins against a limit of 5");
}

/// A stranger who knows the email locks out strangers, not the owner's browser that has logged
/// in before: that browser's device cookie gives it a counter of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_guesses_do_not_lock_the_owners_known_browser() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let owner = client();
    let first = app.login_with(&owner, &creds.email, &creds.password).await;
    assert_eq!(first.status, 200);
    let device = first.set_cookie_named("session_token_device").expect("a login sets a device cookie");
    assert!(device.contains("HttpOnly") && device.contains("SameSite=Lax"), "{device}");

    for _ in 0..5 {
        assert_eq!(app.login_with(&client(), &creds.email, "stranger guess").await.status, 401);
    }
    let stranger = client();
    let r = app.login_with(&stranger, &creds.email, &creds.password).await;
    assert_eq!(r.status, 429, "untrusted clients are locked, even with the right password");
    assert_eq!(app.login_with(&owner, &creds.email, &creds.password).await.status, 200, "the owner's browser is not");

    // A device cookie made up, or made for another account, earns nothing.
    let other = app.new_user().await;
    let theirs = client();
    assert_eq!(app.login_with(&theirs, &other.email, &other.password).await.status, 200);
    assert_eq!(
        app.login_with(&theirs, &creds.email, &creds.password).await.status,
        429,
        "a device cookie of another account"
    );
    let forged = reqwest::Client::new()
        .post(app.url("/auth/login"))
        .header("cookie", "session_token_device=AQ.AAAA")
        .json(&json!({ "email": creds.email, "password": creds.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 429, "a forged device cookie");

    // The owner's own failures lock only the owner's browser.
    for _ in 0..5 {
        assert_eq!(app.login_with(&owner, &creds.email, "owner typo").await.status, 401);
    }
    assert_eq!(app.login_with(&owner, &creds.email, &creds.password).await.status, 429);
}

/// Logs in from `n` fresh browsers with the right password; each keeps its device cookie.
async fn browsers_that_logged_in(app: &TestApp, creds: &Creds, n: usize) -> Vec<reqwest::Client> {
    let mut browsers = Vec::new();
    for _ in 0..n {
        let browser = client();
        let r = app.login_with(&browser, &creds.email, &creds.password).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.set_cookie_named("session_token_device").is_some());
        browsers.push(browser);
    }
    browsers
}

/// Wrong passwords each browser (and a stranger) gets checked before 429, all together.
async fn guesses_checked(app: &TestApp, email: &str, browsers: &[reqwest::Client]) -> usize {
    let mut checked = 0;
    for browser in browsers.iter().cloned().chain([client()]) {
        for _ in 0..10 {
            match app.login_with(&browser, email, "a wrong guess").await.status {
                401 => checked += 1,
                429 => break,
                other => panic!("a guess got {other}"),
            }
        }
    }
    checked
}

/// Device cookies kept from before a password change are void after it: someone who once knew
/// the password gets no more guesses at the new one than a stranger. The browser that made the
/// change gets a fresh cookie and stays known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_device_cookies_buy_no_guesses_at_a_new_password() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let kept = browsers_that_logged_in(&app, &creds, 5).await;
    let owner = client();
    let session = app.login_with(&owner, &creds.email, &creds.password).await.token().unwrap();
    let new_password = "a brand new passphrase";
    let r = owner
        .post(app.url("/auth/user/password"))
        .bearer_auth(&session)
        .json(&json!({ "current_password": creds.password, "new_password": new_password }))
        .send()
        .await
        .unwrap();
    let changed = Reply::from(r).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(
        changed.set_cookie_named("session_token_device").is_some(),
        "the changing browser gets a new device cookie"
    );

    let checked = guesses_checked(&app, &creds.email, &kept).await;
    eprintln!("guesses at the new password with 5 kept device cookies: {checked}");
    assert_eq!(checked, 5, "5 kept cookies and a stranger share one budget");
    assert_eq!(app.login_with(&client(), &creds.email, new_password).await.status, 429, "strangers are locked");
    assert_eq!(app.login_with(&owner, &creds.email, new_password).await.status, 200, "the changing browser is not");
}

/// Only the newest device cookies of an account are trusted: an account does not collect an
/// unbounded number of counters of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_newest_device_cookies_of_an_account_are_trusted() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let browsers = browsers_that_logged_in(&app, &creds, 12).await;
    for _ in 0..5 {
        assert_eq!(app.login_with(&client(), &creds.email, "stranger guess").await.status, 401);
    }
    let (oldest, newest) = (&browsers[0], &browsers[11]);
    assert_eq!(
        app.login_with(oldest, &creds.email, &creds.password).await.status,
        429,
        "the oldest of 12 device cookies is past the cap of 10 and counted with the strangers"
    );
    assert_eq!(app.login_with(newest, &creds.email, &creds.password).await.status, 200);
}
