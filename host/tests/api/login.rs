use crate::support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_hardened_session_cookie() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let r = app.login(&creds).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["email"], creds.email);
    assert_eq!(r.body["data"]["user"]["username"], creds.username);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let cookie = r.set_cookie().unwrap();
    let token = r.token().unwrap();
    assert_eq!(token.len(), 48, "a 4-byte routing tag and 32 random bytes, base64url");
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(cookie.split("; ").any(|a| a == attr), "{attr} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure flag in development: {cookie}");
    // A new token at every login.
    assert_ne!(app.login(&creds).await.token().unwrap(), token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_mode_and_settings_shape_the_cookie() {
    let opts = Options::default()
        .env("APP_ENV", "production")
        .env("PUBLIC_URL", "https://auth.example.com")
        .env("SESSION_COOKIE_NAME", "asm_sid")
        .env("SESSION_LIFETIME", "2h");
    // Production needs a mail server to start (the native host checks; Spin has no such setting).
    let opts = if crate::spin::target_is_spin() { opts } else { opts.arg("--smtp-url", "smtp://127.0.0.1:9") };
    let app = spawn_with(opts).await;
    let creds = app.new_user().await;
    let r = app.login(&creds).await;
    let cookie = r.set_cookie_named("asm_sid").unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("Max-Age=7200"), "{cookie}");
    let device = r.set_cookie_named("asm_sid_device").unwrap();
    assert!(device.contains("; Secure") && device.contains("HttpOnly"), "{device}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let wrong = app.login_with(&client(), &creds.email, "not the password").await;
    let unknown = app.login_with(&client(), &format!("{}@example.com", unique("ghost")), "not the password").await;
    assert_eq!(wrong.status, 401);
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    assert!(wrong.set_cookie().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_emails_are_matched_trimmed_and_case_insensitively() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let r = app.login_with(&client(), &format!("  {}  ", creds.email.to_uppercase()), &creds.password).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_without_fields_is_a_400() {
    let app = spawn().await;
    for payload in
        [json!({}), json!({ "email": "a@b.co" }), json!({ "password": "x" }), json!({ "email": 1, "password": 2 })]
    {
        let r = app.post("/auth/login", payload.clone()).await;
        assert_eq!(r.status, 400, "{payload}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_lock_the_email_even_for_the_right_password() {
    let app = spawn().await;
    let creds = app.new_user().await;
    for i in 0..5 {
        assert_eq!(app.login_with(&client(), &creds.email, "wrong password").await.status, 401, "attempt {i}");
    }
    let r = app.login(&creds).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(r.set_cookie().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_emails_lock_the_same_way() {
    let app = spawn().await;
    let ghost = format!("{}@example.com", unique("ghost"));
    for _ in 0..5 {
        assert_eq!(app.login_with(&client(), &ghost, "whatever1").await.status, 401);
    }
    let r = app.login_with(&client(), &ghost, "whatever1").await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_login_resets_the_count() {
    let app = spawn().await;
    let creds = app.new_user().await;
    for _ in 0..4 {
        assert_eq!(app.login_with(&client(), &creds.email, "wrong password").await.status, 401);
    }
    assert_eq!(app.login_with(&client(), &creds.email, &creds.password).await.status, 200);
    for _ in 0..5 {
        assert_eq!(app.login_with(&client(), &creds.email, "wrong password").await.status, 401);
    }
    assert_eq!(app.login_with(&client(), &creds.email, &creds.password).await.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_ends_with_its_window() {
    let app = spawn_with(Options::default().env("LOGIN_LOCKOUT_WINDOW", "2s").env("LOGIN_MAX_ATTEMPTS", "2")).await;
    let creds = app.new_user().await;
    for _ in 0..2 {
        assert_eq!(app.login_with(&client(), &creds.email, "wrong password").await.status, 401);
    }
    assert_eq!(app.login(&creds).await.status, 429);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(app.login(&creds).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_attempts_check_at_most_the_limit() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let attempts = (0..25).map(|_| {
        let (url, email) = (app.url("/auth/login"), creds.email.clone());
        async move {
            let resp =
                client().post(url).json(&json!({ "email": email, "password": "wrong password" })).send().await.unwrap();
            Reply::from(resp).await.status
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let locked = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((checked, locked), (5, 20), "{statuses:?}");
    assert_eq!(app.login(&creds).await.status, 429);
}
