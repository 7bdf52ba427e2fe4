//! Session management and the defences beyond the old service.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

async fn delete_as(app: &TestApp, token: &str, path: &str) -> Reply {
    let resp = reqwest::Client::new().delete(app.url(path)).bearer_auth(token).send().await.unwrap();
    Reply::from(resp).await
}

async fn sessions_of(app: &TestApp, token: &str) -> Vec<serde_json::Value> {
    let r = app.get_as(token, "/auth/user/sessions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]["sessions"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_end_their_own_sessions_and_only_those() {
    let app = spawn().await;
    let (ada, bob) = (app.new_user().await, app.new_user().await);
    let ada1 = app.login_with(&client(), &ada.email, &ada.password).await.token().unwrap();
    let ada2 = app.login_with(&client(), &ada.email, &ada.password).await.token().unwrap();
    let ada3 = app.login_with(&client(), &ada.email, &ada.password).await.token().unwrap();
    let bob1 = app.login_with(&client(), &bob.email, &bob.password).await.token().unwrap();

    let bobs_id = sessions_of(&app, &bob1).await[0]["id"].as_str().unwrap().to_string();
    let r = delete_as(&app, &ada1, &format!("/auth/user/sessions/{bobs_id}")).await;
    assert_eq!(r.status, 404, "another user's session is not found: {}", r.body);
    assert_eq!(app.get_as(&bob1, "/auth/user/me").await.status, 200, "and stays alive");
    assert_eq!(delete_as(&app, &ada1, "/auth/user/sessions/no-such-session").await.status, 404);

    let ada2_id = sessions_of(&app, &ada2).await.iter().find(|s| s["current_session"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = delete_as(&app, &ada1, &format!("/auth/user/sessions/{ada2_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.get_as(&ada2, "/auth/user/me").await.status, 401, "ended at once");
    assert_eq!(delete_as(&app, &ada1, &format!("/auth/user/sessions/{ada2_id}")).await.status, 404);

    let r = delete_as(&app, &ada1, "/auth/user/sessions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["revoked"], 1);
    assert_eq!(app.get_as(&ada3, "/auth/user/me").await.status, 401);
    assert_eq!(app.get_as(&ada1, "/auth/user/me").await.status, 200, "the current session stays");
    assert_eq!(sessions_of(&app, &ada1).await.len(), 1);
    assert_eq!(app.get_as(&bob1, "/auth/user/me").await.status, 200, "other users are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_sessions_and_the_old_password() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let here = app.login(&creds).await.token().unwrap();
    let there = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    let change = |current: &str, new: &str| {
        app.post("/auth/user/password", json!({ "current_password": current, "new_password": new }))
    };
    let r = change("not the password", "a brand new secret").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["error"]["field"], "current_password");
    let r = change(&creds.password, "password123").await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["fields"][0]["message"].as_str().unwrap().contains("commonly used"), "{}", r.body);
    let r = change(&creds.password, "a brand new secret").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["revoked"], 1);
    assert_eq!(app.get_as(&there, "/auth/user/me").await.status, 401, "other sessions end");
    assert_eq!(app.get_as(&here, "/auth/user/me").await.status, 200, "this one stays");
    assert_eq!(app.login_with(&client(), &creds.email, &creds.password).await.status, 401);
    assert_eq!(app.login_with(&client(), &creds.email, "a brand new secret").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_current_passwords_count_toward_the_lock_out() {
    let app = spawn_with(Options::default().env("LOGIN_MAX_ATTEMPTS", "2")).await;
    let creds = app.new_user().await;
    app.login(&creds).await;
    for _ in 0..2 {
        let r = app
            .post(
                "/auth/user/password",
                json!({ "current_password": "wrong!!!", "new_password": "a brand new secret" }),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = app
        .post(
            "/auth/user/password",
            json!({ "current_password": creds.password, "new_password": "a brand new secret" }),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    // They count where this browser's logins count: its own device counter.
    assert_eq!(app.login(&creds).await.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_cookie_requests_are_refused_and_bearer_ones_are_not() {
    let app = spawn_with(Options::default().env("ALLOWED_ORIGINS", "https://app.example.com")).await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    let logout = |origin: Option<&str>, fetch_site: Option<&str>| {
        let mut req = app.client.post(app.url("/auth/logout"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = fetch_site {
            req = req.header("sec-fetch-site", s);
        }
        async move { Reply::from(req.send().await.unwrap()).await }
    };
    let r = logout(Some("https://evil.example"), None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.set_cookie().is_none());
    assert_eq!(logout(None, Some("cross-site")).await.status, 403);
    assert_eq!(app.get("/auth/user/me").await.status, 200, "the session is still valid");
    let r = app
        .client
        .delete(app.url("/auth/user/sessions"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The same cross-site request with a Bearer token is not a CSRF risk.
    let r = reqwest::Client::new()
        .post(app.url("/auth/logout"))
        .header("origin", "https://evil.example")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 401);

    // Login CSRF: a cross-site page cannot sign the browser in either.
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("origin", "https://evil.example")
        .json(&json!({ "email": creds.email, "password": creds.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Same-site and allowed origins pass.
    let other = app.login(&creds).await.token().unwrap();
    let r = logout(Some("https://app.example.com"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("clear-site-data"), None, "the device cookie must outlive the session");
    assert!(r.set_cookie_named("session_token_device").is_none(), "only the session cookie is cleared");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(app.get_as(&other, "/auth/user/me").await.status, 401);
    app.login(&creds).await;
    assert_eq!(logout(Some(&app.base), None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_spraying_many_accounts_hits_the_per_address_ceiling() {
    let app = spawn_with(Options::default().env("LOGIN_IP_MAX_ATTEMPTS", "5")).await;
    let creds = app.new_user().await;
    // A success does not use up the allowance.
    for _ in 0..3 {
        assert_eq!(app.login(&creds).await.status, 200);
    }
    let attempts = (0..20).map(|i| {
        let url = app.url("/auth/login");
        async move {
            let body = json!({ "email": format!("victim{i}-{}@example.com", unique("")), "password": "guess guess" });
            Reply::from(client().post(url).json(&body).send().await.unwrap()).await.status
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((checked, refused), (5, 15), "{statuses:?}");
    assert_eq!(app.login(&creds).await.status, 429, "the address is locked for everyone behind it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_end_while_used_ones_live_on() {
    let app = spawn_with(Options::default().env("SESSION_IDLE_TIMEOUT", "1500ms")).await;
    let creds = app.new_user().await;
    let idle = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    let busy = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(app.get_as(&busy, "/auth/user/me").await.status, 200, "activity keeps it alive");
    }
    assert_eq!(app.get_as(&idle, "/auth/user/me").await.status, 401, "2.4 s without use");
    assert_eq!(sessions_of(&app, &busy).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_never_extends_a_session_past_its_lifetime() {
    let app = spawn_with(Options::default().env("SESSION_IDLE_TIMEOUT", "1s").env("SESSION_LIFETIME", "2s")).await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1800) {
        assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 401, "the absolute lifetime holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cap_ends_the_least_recently_used() {
    let app = spawn_with(Options::default().env("MAX_SESSIONS_PER_USER", "2")).await;
    let creds = app.new_user().await;
    let first = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let third = app.login_with(&client(), &creds.email, &creds.password).await.token().unwrap();
    assert_eq!(app.get_as(&first, "/auth/user/me").await.status, 401, "the oldest is gone");
    assert_eq!(app.get_as(&second, "/auth/user/me").await.status, 200);
    assert_eq!(sessions_of(&app, &third).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_and_self_referencing_passwords_are_refused_with_the_reason() {
    let app = spawn().await;
    let email = format!("{}@example.com", unique("pw"));
    let username = unique("pw")[..12].to_string();
    for (password, reason) in
        [("password1", "commonly used"), ("qwertyuiop", "commonly used"), (email.as_str(), "email")]
    {
        let r =
            app.register(json!({ "email": email, "username": username, "password": password, "full_name": "P" })).await;
        assert_eq!(r.status, 400, "{password}");
        let message = r.body["error"]["fields"][0]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{password}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_rehashed_when_the_hash_setting_changes_and_kept_in_the_history() {
    let cheap = spawn().await;
    let creds = cheap.new_user().await;
    let pool = sqlx::PgPool::connect(&cheap.database_url).await.unwrap();
    let hash_of =
        || sqlx::query_scalar::<_, String>("SELECT password_hash FROM users WHERE email = $1").bind(&creds.email);
    assert!(hash_of().fetch_one(&pool).await.unwrap().starts_with("$argon2id$v=19$m=256,t=1,p=1$"));

    // Other Argon2id parameters: the next sign-in (not a failed one) rehashes.
    let dearer = spawn_with(Options::default().env("ARGON2_ITERATIONS", "2")).await;
    assert_eq!(dearer.login_with(&client(), &creds.email, "wrong password").await.status, 401);
    assert!(hash_of().fetch_one(&pool).await.unwrap().contains("t=1,"), "a failed sign-in changes nothing");
    assert_eq!(dearer.login(&creds).await.status, 200);
    assert!(hash_of().fetch_one(&pool).await.unwrap().starts_with("$argon2id$v=19$m=256,t=2,p=1$"), "rehashed");
    assert_eq!(dearer.login_with(&client(), &creds.email, &creds.password).await.status, 200);

    let r = dearer.get("/auth/user/logins?per_page=2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["total"], 3);
    let logins = r.body["data"]["logins"].as_array().unwrap();
    assert_eq!(logins.len(), 2);
    assert_eq!(logins[0]["outcome"], "success");
    assert_eq!(logins[0]["ip_address"], "127.0.0.1");
    let r = dearer.get("/auth/user/logins?per_page=2&page=2").await;
    assert_eq!(r.body["data"]["logins"][0]["outcome"], "invalid_credentials");
    assert_eq!(dearer.get("/auth/user/logins?per_page=500").await.status, 400);

    // bcrypt chosen again, and back: the Go service's own hash ($2a$, cost 10) signs in and
    // leaves an Argon2id hash behind.
    let bcrypt_app = spawn_with(Options::default().env("PASSWORD_HASH", "bcrypt").env("BCRYPT_COST", "4")).await;
    assert_eq!(bcrypt_app.login(&creds).await.status, 200);
    assert!(hash_of().fetch_one(&pool).await.unwrap().starts_with("$2b$04$"), "rehashed with bcrypt");
    let go = bcrypt::hash_with_result(&creds.password, 10).unwrap().format_for_version(bcrypt::Version::TwoA);
    sqlx::query("UPDATE users SET password_hash = $1 WHERE email = $2")
        .bind(&go)
        .bind(&creds.email)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(cheap.login(&creds).await.status, 200, "the old service's hash");
    assert!(hash_of().fetch_one(&pool).await.unwrap().starts_with("$argon2id$"), "rehashed to Argon2id");
    assert_eq!(cheap.login(&creds).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_current_session_by_id_clears_its_cookie_and_no_body_holds_a_token() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let login = app.login(&creds).await;
    let token = login.token().unwrap();
    assert!(!login.body.to_string().contains(&token), "the token travels only in the cookie");
    let list = app.get("/auth/user/sessions").await;
    assert!(!list.body.to_string().contains(&token));
    let id = list.body["data"]["sessions"][0]["id"].as_str().unwrap().to_string();
    let r = Reply::from(app.client.delete(app.url(&format!("/auth/user/sessions/{id}"))).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["current_session"], true);
    assert!(r.set_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 401);
}
