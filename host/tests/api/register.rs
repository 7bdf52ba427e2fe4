use crate::support::*;
use serde_json::json;

fn body(email: &str, username: &str, password: &str, full_name: &str) -> serde_json::Value {
    json!({ "email": email, "username": username, "password": password, "full_name": full_name })
}

fn failing_fields(r: &Reply) -> Vec<String> {
    r.body["error"]["fields"]
        .as_array()
        .expect("a field list")
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_returns_the_new_user_with_a_normalised_email() {
    let app = spawn().await;
    let email = format!("  {}@Example.COM ", unique("Mixed"));
    let username = unique("ada")[..12].to_string();
    let r = app.register(body(&email, &username, "correct horse", "Ada Lovelace")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["email"], email.trim().to_lowercase());
    assert_eq!(r.body["data"]["username"], username);
    assert!(uuid::Uuid::parse_str(r.body["data"]["id"].as_str().unwrap()).is_ok());
    assert!(r.body["data"].get("password_hash").is_none());
    assert!(r.set_cookie().is_none(), "registering does not log in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validation_rule_is_enforced_and_every_failing_field_listed() {
    let app = spawn().await;
    let ok_email = || format!("{}@example.com", unique("v"));
    let name = || unique("n")[..10].to_string();
    let cases: Vec<(serde_json::Value, Vec<&str>)> = vec![
        (body("not-an-email", &name(), "correct horse", "X"), vec!["email"]),
        (body("a@b", &name(), "correct horse", "X"), vec!["email"]),
        (body(&ok_email(), "ab", "correct horse", "X"), vec!["username"]),
        (body(&ok_email(), &"u".repeat(51), "correct horse", "X"), vec!["username"]),
        (body(&ok_email(), &name(), "seven77", "X"), vec!["password"]),
        // Argon2id's bound: 256 bytes.
        (body(&ok_email(), &name(), &"p".repeat(257), "X"), vec!["password"]),
        // 86 three-byte characters: 86 characters but 258 bytes.
        (body(&ok_email(), &name(), &"語".repeat(86), "X"), vec!["password"]),
        (body(&ok_email(), &name(), "correct horse", "   "), vec!["full_name"]),
        (json!({ "email": ok_email(), "username": name(), "password": "correct horse" }), vec!["full_name"]),
        (
            json!({ "email": 42, "username": ["x"], "password": null, "full_name": true }),
            vec!["email", "username", "password", "full_name"],
        ),
        (body("bad", "x", "short", ""), vec!["email", "username", "password", "full_name"]),
    ];
    for (payload, expected) in cases {
        let r = app.register(payload.clone()).await;
        assert_eq!(r.status, 400, "{payload} -> {}", r.body);
        assert_eq!(failing_fields(&r), expected, "{payload}");
        for f in r.body["error"]["fields"].as_array().unwrap() {
            assert!(!f["message"].as_str().unwrap().is_empty());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_at_the_limits_and_in_any_script_are_accepted() {
    let app = spawn().await;
    // 64 kanji are 192 bytes: over bcrypt's 72, within Argon2id's 256.
    for password in [
        "exactly8".to_string(),
        "p".repeat(256),
        "日本語のパスワード".into(),
        "🔑🔑🔑🔑🔑🔑🔑🔑".into(),
        "語".repeat(64),
    ] {
        let r = app.register(body(&format!("{}@example.com", unique("p")), &unique("p")[..10], &password, "P")).await;
        assert_eq!(r.status, 201, "{password}: {}", r.body);
        let email = r.body["data"]["email"].as_str().unwrap();
        assert_eq!(app.login_with(&client(), email, &password).await.status, 200, "{password}");
    }
    // With bcrypt chosen, its 72 bytes are the bound again.
    let bcrypt = spawn_with(Options::default().env("PASSWORD_HASH", "bcrypt").env("BCRYPT_COST", "4")).await;
    let ok =
        bcrypt.register(body(&format!("{}@example.com", unique("b")), &unique("b")[..10], &"p".repeat(72), "P")).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let long =
        bcrypt.register(body(&format!("{}@example.com", unique("b")), &unique("b")[..10], &"p".repeat(73), "P")).await;
    assert_eq!((long.status, failing_fields(&long)), (400, vec!["password".to_string()]), "{}", long.body);
    assert!(long.body.to_string().contains("72 bytes"), "{}", long.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_email_or_username_is_a_409_naming_the_field() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let r = app.register(body(&creds.email.to_uppercase(), &unique("o")[..10], "correct horse", "X")).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["field"], "email");
    let r = app
        .register(body(&format!("{}@example.com", unique("o")), &creds.username.to_uppercase(), "correct horse", "X"))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["field"], "username");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_registrations_of_one_email_create_exactly_one_user() {
    let app = spawn().await;
    let email = format!("{}@example.com", unique("race"));
    let attempts = (0..8).map(|i| {
        let payload = body(&email, &format!("{}{i}", &unique("r")[..10]), "correct horse", "R");
        let (client, url) = (app.client.clone(), app.url("/auth/register"));
        async move { Reply::from(client.post(url).json(&payload).send().await.unwrap()).await.status }
    });
    let mut statuses = futures::future::join_all(attempts).await;
    statuses.sort();
    assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409, 409, 409]);
}

/// An address that a mail server would deliver to another mailbox than it reads as (a quoted
/// or escaped local part, a comment) is refused wherever an address is given, so one mailbox
/// has one form: one account, one set of mail limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_that_reach_another_mailbox_are_refused() {
    let app = spawn().await;
    let local = unique("victim")[..14].to_string();
    for email in [
        format!("\"{local}\"@example.com"),
        format!("\"\\{}\"@example.com", local.chars().map(|c| format!("\\{c}")).collect::<String>()),
        format!("{local}(comment)@example.com"),
        format!("\"{local}@other\"@example.com"),
        format!("{local}@[192.0.2.1]"),
    ] {
        let r = app.register(body(&email, &unique("q")[..12], "correct horse battery", "Q")).await;
        assert_eq!(r.status, 400, "{email}: {}", r.body);
        assert_eq!(failing_fields(&r), vec!["email"], "{email}");
        let r = app.post("/auth/password/forgot", json!({ "email": email })).await;
        assert_eq!(r.status, 400, "forgot {email}: {}", r.body);
    }
    let r = app.register(body(&format!("{local}@example.com"), &unique("q")[..12], "correct horse battery", "Q")).await;
    assert_eq!(r.status, 201, "the plain form registers: {}", r.body);
}

/// A body that names a field twice is refused, not read as whichever copy a parser keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_in_a_body_are_refused() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let raw = format!(r#"{{"email":"{}","password":"wrong","password":"{}"}}"#, creds.email, creds.password);
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let r = Reply::from(r).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["error"].as_str().unwrap_or_default().contains("password"), "names the key: {}", r.body);
}
