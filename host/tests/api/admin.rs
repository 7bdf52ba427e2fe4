//! The operators' API and the account's whole life, end to end: the admin token (missing, wrong,
//! rotated), the operators' own listener, finding, creating, changing, disabling and erasing
//! accounts on every session store, email changes confirmed from the new address through a real
//! SMTP server, self-service deletion and export, registration turned off.

use crate::mail::mail_host;
use crate::smtp::SmtpServer;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Two operator tokens at once, as during a rotation.
const TOKEN: &str = "an-operator-token-that-is-long-enough-1";
const NEXT_TOKEN: &str = "an-operator-token-that-is-long-enough-2";

fn with_admin(opts: Options) -> Options {
    opts.env("ADMIN_TOKEN", &format!("{TOKEN},{NEXT_TOKEN}"))
}

/// A request to the operators' API at `base` with a token (or none).
async fn admin(base: &str, token: Option<&str>, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    Reply::from(req.send().await.expect("request sent")).await
}

async fn op(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
    admin(&app.base, Some(TOKEN), method, path, body).await
}

async fn user_id(app: &TestApp, email: &str) -> String {
    let r = op(app, reqwest::Method::GET, &format!("/admin/users?q={}", email.replace('@', "%40")), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]["users"][0]["id"].as_str().expect("the account is found").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_setting_the_operators_routes_do_not_exist() {
    let app = spawn().await;
    for (method, path) in [
        (reqwest::Method::GET, "/admin/users"),
        (reqwest::Method::PUT, "/admin/users"),
        (reqwest::Method::DELETE, "/admin/users/abc"),
    ] {
        let r = admin(&app.base, Some(TOKEN), method.clone(), path, None).await;
        assert_eq!(r.status, 404, "{method} {path}: not even a 405");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_need_one_of_the_tokens() {
    let app = spawn_with(with_admin(Options::default())).await;
    let list = |token: Option<&'static str>| {
        let base = app.base.clone();
        async move { admin(&base, token, reqwest::Method::GET, "/admin/users", None).await }
    };
    let missing = list(None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert_eq!(list(Some("an-operator-token-that-is-long-enough-3")).await.status, 401, "a wrong one");
    assert_eq!(list(Some("")).await.status, 401);
    assert_eq!(list(Some(TOKEN)).await.status, 200);
    assert_eq!(list(Some(NEXT_TOKEN)).await.status, 200, "two at once, for a rotation");
    // A user's session is no operator token.
    let creds = app.new_user().await;
    let session = app.login(&creds).await.token().unwrap();
    assert_eq!(admin(&app.base, Some(&session), reqwest::Method::GET, "/admin/users", None).await.status, 401);
    // The token retired by the rotation opens nothing.
    let rotated = spawn_with(Options::default().env("ADMIN_TOKEN", NEXT_TOKEN)).await;
    assert_eq!(admin(&rotated.base, Some(TOKEN), reqwest::Method::GET, "/admin/users", None).await.status, 401);
    assert_eq!(admin(&rotated.base, Some(NEXT_TOKEN), reqwest::Method::GET, "/admin/users", None).await.status, 200);
}

/// With ADMIN_ADDR the operators' routes are served there only: the public listener answers 404
/// for them, the operators' listener 404 for everything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_listener_the_public_one_hides_the_operators_routes() {
    let app = spawn_with(with_admin(Options::default()).arg("--admin-addr", "127.0.0.1:0")).await;
    let private = app.admin.clone().expect("an operators' listener");
    let public = admin(&app.base, Some(TOKEN), reqwest::Method::GET, "/admin/users", None).await;
    assert_eq!(public.status, 404, "{}", public.body);
    assert_eq!(admin(&private, Some(TOKEN), reqwest::Method::GET, "/admin/users", None).await.status, 200);
    assert_eq!(admin(&private, None, reqwest::Method::GET, "/admin/users", None).await.status, 401, "still the token");
    let elsewhere = admin(&private, None, reqwest::Method::GET, "/healthz", None).await;
    assert_eq!(elsewhere.status, 404, "only the operators' routes there");
    assert_eq!(app.get("/healthz").await.status, 200);
}

/// An account's life as an operator sees it: created without a password (a link is mailed to
/// choose one), found, changed with registration's rules, disabled (every session ends at once;
/// the right password then gets 403, a wrong one what it always gets), enabled, its second factor
/// reset, erased; the address registers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_an_accounts_whole_life() {
    let (db, smtp) = (own_database().await, SmtpServer::start().await);
    let app = mail_host(&db, &smtp.url(), &[("ADMIN_TOKEN", TOKEN)]).await;
    let email = format!("{}@example.com", unique("made"));
    let username = unique("made")[..16].to_string();
    let r = op(
        &app,
        reqwest::Method::POST,
        "/admin/users",
        Some(json!({ "email": email, "username": username, "full_name": "Made" })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["data"]["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["data"]["user"]["has_password"], false);
    assert!(r.body["data"]["user"].get("password_hash").is_none());
    // The mailed link chooses the password; the email counts as verified then.
    let mail = smtp.wait_for(1, Duration::from_secs(20)).await.pop().unwrap();
    assert_eq!(mail.to, vec![email.clone()]);
    let token = mail.token("reset").expect("a link to choose a password");
    let password = "a chosen passphrase";
    let set = app.post("/auth/password/reset", json!({ "token": token, "new_password": password })).await;
    assert_eq!(set.status, 200, "{}", set.body);
    let creds = Creds { email: email.clone(), username: username.clone(), password: password.into() };
    let session = app.login(&creds).await.token().expect("signed in with the chosen password");

    // Found by the start of the email or the username, case-insensitively.
    for q in [&email[..8].to_uppercase(), &username[..6]] {
        let found = op(&app, reqwest::Method::GET, &format!("/admin/users?q={q}"), None).await;
        assert!(found.body["data"]["users"].as_array().unwrap().iter().any(|u| u["id"] == id), "{q}: {}", found.body);
    }
    // A control character (a NUL, which PostgreSQL takes in no text) is a clear 400, not a 500.
    let odd = op(&app, reqwest::Method::GET, "/admin/users?q=ab%00c", None).await;
    assert_eq!((odd.status, odd.body["error"]["fields"][0]["field"].as_str()), (400, Some("q")), "{}", odd.body);
    let shown = op(&app, reqwest::Method::GET, &format!("/admin/users/{id}"), None).await;
    assert_eq!(
        (shown.body["data"]["user"]["active_sessions"].as_u64(), &shown.body["data"]["user"]["email_verified"]),
        (Some(1), &json!(true))
    );
    assert_eq!(op(&app, reqwest::Method::GET, "/admin/users/not-a-user", None).await.status, 404);

    // Changed with registration's rules and conflicts.
    let other = app.new_user().await;
    let taken =
        op(&app, reqwest::Method::PATCH, &format!("/admin/users/{id}"), Some(json!({ "username": other.username })))
            .await;
    assert_eq!((taken.status, &taken.body["error"]["field"]), (409, &json!("username")));
    let bad = op(
        &app,
        reqwest::Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(json!({ "email": "\"quoted\"@example.com", "full_name": "" })),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let renamed =
        op(&app, reqwest::Method::PATCH, &format!("/admin/users/{id}"), Some(json!({ "full_name": "Renamed" }))).await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(
        app.get_as(&session, "/auth/user/me").await.body["data"]["user"]["full_name"],
        "Renamed",
        "session checks see it at once"
    );

    // Disabled: every session ends at once; the right password gets 403, a wrong one 401.
    let disabled = op(&app, reqwest::Method::POST, &format!("/admin/users/{id}/disable"), None).await;
    assert_eq!((disabled.status, &disabled.body["data"]["revoked"]), (200, &json!(1)), "{}", disabled.body);
    assert_eq!(app.get_as(&session, "/auth/user/me").await.status, 401);
    let right = app.login_with(&client(), &email, password).await;
    assert_eq!((right.status, &right.body["error"]), (403, &json!("account_disabled")));
    assert!(right.token().is_none());
    assert_eq!(app.login_with(&client(), &email, "a wrong password").await.status, 401);
    assert_eq!(op(&app, reqwest::Method::POST, &format!("/admin/users/{id}/enable"), None).await.status, 200);
    let session = app.login(&creds).await.token().expect("enabled again");

    // The sessions an operator sees and ends.
    let listed = op(&app, reqwest::Method::GET, &format!("/admin/users/{id}/sessions"), None).await;
    assert_eq!(listed.body["data"]["total_active_sessions"], 1, "{}", listed.body);
    let ended = op(&app, reqwest::Method::DELETE, &format!("/admin/users/{id}/sessions"), None).await;
    assert_eq!(ended.body["data"]["revoked"], 1);
    assert_eq!(app.get_as(&session, "/auth/user/me").await.status, 401);

    // Erased: the address registers again.
    assert_eq!(op(&app, reqwest::Method::DELETE, &format!("/admin/users/{id}"), None).await.status, 200);
    assert_eq!(op(&app, reqwest::Method::GET, &format!("/admin/users/{id}"), None).await.status, 404);
    assert_eq!(app.login(&creds).await.status, 401);
    let again =
        app.register(json!({ "email": email, "username": username, "password": password, "full_name": "Again" })).await;
    assert_eq!(again.status, 201, "{}", again.body);
}

/// Disabling ends every session at once on every session store (and its credential version
/// keeps a sign-in in flight from leaving one behind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_ends_every_session_on_every_session_store() {
    let stores = [
        ("postgres+redis", Options::default()),
        (
            "postgres+redis cluster",
            Options::default().arg(
                "--redis-cluster-nodes",
                &redis_cluster_nodes().iter().map(|n| n.trim_start_matches("redis://")).collect::<Vec<_>>().join(","),
            ),
        ),
        ("postgres", Options { redis_url: Some(String::new()), ..Options::default() }),
        ("sqlite", Options { database_url: Some(sqlite_url()), redis_url: Some(String::new()), ..Options::default() }),
    ];
    for (name, opts) in stores {
        let app = spawn_with(with_admin(opts)).await;
        let creds = app.new_user().await;
        let tokens: Vec<String> = futures::future::join_all((0..3).map(|_| app.login_with_new_client(&creds))).await;
        let id = user_id(&app, &creds.email).await;
        let r = op(&app, reqwest::Method::POST, &format!("/admin/users/{id}/disable"), None).await;
        assert_eq!((r.status, &r.body["data"]["revoked"]), (200, &json!(3)), "{name}: {}", r.body);
        for t in &tokens {
            assert_eq!(app.get_as(t, "/auth/user/me").await.status, 401, "{name}");
        }
    }
}

/// Erasing an account leaves no row keyed by it in any table (PostgreSQL with sessions in Redis
/// or in PostgreSQL, and SQLite) and no Redis key of its own. What stays: the last notice to its
/// address until it is delivered, and where sessions live apart from users (Redis, PostgreSQL's
/// session tables) the account's credential version, a number kept a day so that a sign-in in
/// flight when the account went cannot leave a session behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_leaves_no_row_or_key_keyed_by_the_account() {
    let stores = [
        ("postgres+redis", Options::default()),
        ("postgres", Options { redis_url: Some(String::new()), ..Options::default() }),
        ("sqlite", Options { database_url: Some(sqlite_url()), redis_url: Some(String::new()), ..Options::default() }),
    ];
    for (name, opts) in stores {
        // Under `spin up` the stores are the manifest's (PostgreSQL and Redis).
        if crate::spin::target_is_spin() && name != "postgres+redis" {
            continue;
        }
        let app = spawn_with(with_admin(opts)).await;
        let (id, email, session) = an_account_with_everything(&app).await;
        if name == "postgres+redis" {
            let before = redis_keys_naming(&app, &id, &email).await;
            assert!(before.len() >= 3, "the scan sees the session, its index and the profile: {before:?}");
        }
        assert_eq!(op(&app, reqwest::Method::DELETE, &format!("/admin/users/{id}"), None).await.status, 200, "{name}");
        assert_eq!(app.get_as(&session, "/auth/user/me").await.status, 401, "{name}");
        let tables = if name == "sqlite" {
            sqlite_rows_naming(&app.database_url, &id, &email).await
        } else {
            pg_rows_naming(&app.database_url, &id, &email).await
        };
        for (table, by_id, by_email) in &tables {
            // The email: only in the last notice, meant to stay until it is delivered.
            let email_allowed = if table == "outbox" { 1 } else { 0 };
            assert!(*by_email <= email_allowed, "{name}: {table} has {by_email} rows naming the email");
            // The id: the events (id, type and time, nothing else: the email is checked above),
            // and the credential version (a number) where sessions are kept apart from users.
            let id_allowed = match table.as_str() {
                "events" => i64::MAX,
                "outbox" => 1,
                "session_credentials" if name == "postgres" => 1,
                _ => 0,
            };
            assert!(*by_id <= id_allowed, "{name}: {table} has {by_id} rows naming the account's id");
        }
        let events = tables.iter().find(|(t, _, _)| t == "events").map_or(0, |(_, n, _)| *n);
        assert!(events >= 5, "{name}: the account's events stay in the trail ({events})");
        assert!(
            tables.iter().any(|(t, _, _)| t == "users") && tables.len() >= 7,
            "{name}: every table scanned: {tables:?}"
        );
        if name == "postgres+redis" {
            let left: Vec<String> = redis_keys_naming(&app, &id, &email)
                .await
                .into_iter()
                .filter(|k| !k.contains(":credentials:"))
                .collect();
            assert!(left.is_empty(), "Redis keys naming the account: {left:?}");
            let dump = app.redis_dump().await;
            assert!(
                dump.iter().any(|(k, _)| k.contains(":credentials:") && k.contains(&id)),
                "the credential version stays"
            );
        }
        // The address is free again.
        let again = app.register(json!({ "email": email, "username": unique("again")[..16].to_string(), "password": "correct horse battery", "full_name": "Again" })).await;
        assert_eq!(again.status, 201, "{name}: {}", again.body);
    }
}

/// An account with a session, a login history (good and bad), a reset link, a second factor with
/// recovery codes and mail counters: its id, email and session token.
async fn an_account_with_everything(app: &TestApp) -> (String, String, String) {
    let creds = app.new_user().await;
    assert_eq!(app.login_with(&client(), &creds.email, "a wrong guess").await.status, 401);
    assert_eq!(app.post("/auth/password/forgot", json!({ "email": creds.email })).await.status, 202);
    let (session, _secret, codes) = crate::mfa::enrolled(app, &creds).await;
    assert_eq!(codes.len(), 10);
    (user_id(app, &creds.email).await, creds.email, session)
}

/// The run's Redis keys whose name or value names the account (a session's key names its token
/// hash; its value, the account).
async fn redis_keys_naming(app: &TestApp, id: &str, email: &str) -> Vec<String> {
    let lower = email.to_lowercase();
    let names = |k: &str, values: &[String]| {
        k.contains(id) || values.iter().any(|v| v.contains(id) || v.to_lowercase().contains(&lower))
    };
    app.redis_dump().await.into_iter().filter(|(k, v)| names(k, v)).map(|(k, _)| k).collect()
}

/// Per table of the PostgreSQL database, the rows in which the id or the email appears in any
/// column.
async fn pg_rows_naming(url: &str, id: &str, email: &str) -> Vec<(String, i64, i64)> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut out = Vec::new();
    for table in tables {
        // The whole row as text.
        let sql = format!(
            "SELECT count(*) FILTER (WHERE t::text LIKE '%' || $1 || '%'), \
                    count(*) FILTER (WHERE lower(t::text) LIKE '%' || lower($2) || '%') FROM \"{table}\" t"
        );
        let (by_id, by_email): (i64, i64) = sqlx::query_as(&sql).bind(id).bind(email).fetch_one(&pool).await.unwrap();
        out.push((table, by_id, by_email));
    }
    pool.close().await;
    out
}

/// The same for the SQLite file: every column of every table, as text.
async fn sqlite_rows_naming(url: &str, id: &str, email: &str) -> Vec<(String, i64, i64)> {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .fetch_all(&pool)
            .await
            .unwrap();
        let any = |test: &str| columns.iter().map(|c| test.replace("{c}", c)).collect::<Vec<_>>().join(" OR ");
        let sql = format!(
            "SELECT count(*) FILTER (WHERE {}), count(*) FILTER (WHERE {}) FROM \"{table}\"",
            any("instr(CAST(\"{c}\" AS TEXT), ?1) > 0"),
            any("instr(lower(CAST(\"{c}\" AS TEXT)), lower(?2)) > 0")
        );
        let (by_id, by_email): (i64, i64) = sqlx::query_as(&sql).bind(id).bind(email).fetch_one(&pool).await.unwrap();
        out.push((table, by_id, by_email));
    }
    pool.close().await;
    out
}

/// An email change waits for the link mailed to the new address (the old one hears of it
/// without a link); two accounts racing to one address: one 200, one 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_change_is_confirmed_from_the_new_address() {
    let (db, smtp) = (own_database().await, SmtpServer::start().await);
    let app = mail_host(&db, &smtp.url(), &[]).await;
    let (a, b) = (app.new_user().await, app.new_user().await);
    let target = format!("{}@example.com", unique("target"));
    let mut tokens = Vec::new();
    for who in [&a, &b] {
        let session = app.login(who).await.token().unwrap();
        let wrong = reqwest::Client::new()
            .post(app.url("/auth/user/email"))
            .bearer_auth(&session)
            .json(&json!({ "new_email": target, "password": "not the password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let r = reqwest::Client::new()
            .post(app.url("/auth/user/email"))
            .bearer_auth(&session)
            .json(&json!({ "new_email": target, "password": who.password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert_eq!(
            app.get_as(&session, "/auth/user/me").await.body["data"]["user"]["email"],
            who.email.as_str(),
            "nothing changes yet"
        );
    }
    // 2 verification mails at registration, then per change a link and a notice.
    let got = smtp.wait_for(6, Duration::from_secs(20)).await;
    for who in [&a, &b] {
        let notice = got
            .iter()
            .find(|m| m.to == [who.email.clone()] && m.subject().contains("change"))
            .expect("a notice to the old address");
        assert!(notice.token("email").is_none(), "the old address gets no link");
    }
    let links: Vec<String> =
        got.iter().filter(|m| m.to == [target.clone()]).map(|m| m.token("email").expect("a link")).collect();
    assert_eq!(links.len(), 2, "the links go to the new address only");
    tokens.extend(links);
    let confirm = |token: String| {
        let url = app.url("/auth/email/change");
        async move {
            reqwest::Client::new().post(url).json(&json!({ "token": token })).send().await.unwrap().status().as_u16()
        }
    };
    let answered = futures::future::join_all(tokens.clone().into_iter().map(confirm)).await;
    let mut statuses = answered.clone();
    statuses.sort();
    assert_eq!(statuses, [200, 409], "one gets the address");
    let used = tokens[answered.iter().position(|s| *s == 200).unwrap()].clone();
    let kept = tokens[answered.iter().position(|s| *s == 409).unwrap()].clone();
    // The new address signs in to one of the two accounts; the other keeps its old address.
    let signed = app.login_with(&client(), &target, &a.password).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    let owner = signed.body["data"]["user"]["username"].as_str().unwrap().to_string();
    let loser = if owner == a.username { &b } else { &a };
    assert!(owner == a.username || owner == b.username);
    assert_eq!(app.login(loser).await.status, 200, "the other account keeps its address");
    let winner = if owner == a.username { &a } else { &b };
    assert_eq!(app.login(winner).await.status, 401, "the old address is gone");
    assert_eq!(confirm(used).await, 400, "a used link");
    assert_eq!(confirm(kept).await, 409, "the other link is kept, and the address still taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_delete_their_account_with_the_password_and_download_what_is_kept() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let session = app.login(&creds).await.token().unwrap();
    let export = reqwest::Client::new().get(app.url("/auth/user/export")).bearer_auth(&session).send().await.unwrap();
    assert!(export.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let export = Reply::from(export).await;
    assert_eq!(export.body["data"]["account"]["email"], creds.email.as_str());
    assert_eq!(export.body["data"]["sessions"].as_array().unwrap().len(), 1);
    assert!(!export.body["data"]["logins"].as_array().unwrap().is_empty(), "the login history");
    assert!(!export.body.to_string().contains("$2b$"), "no password hash");

    let delete = |password: &str| {
        let (url, session, password) = (app.url("/auth/user"), session.clone(), password.to_string());
        async move {
            let r = reqwest::Client::new()
                .delete(url)
                .bearer_auth(session)
                .json(&json!({ "password": password }))
                .send()
                .await;
            Reply::from(r.unwrap()).await
        }
    };
    assert_eq!(delete("not the password").await.status, 401);
    let done = delete(&creds.password).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(app.get_as(&session, "/auth/user/me").await.status, 401);
    assert_eq!(app.login(&creds).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_registration_off_only_operators_create_accounts() {
    let app = spawn_with(with_admin(Options::default()).env("REGISTRATION_ENABLED", "false")).await;
    let r = app.register(json!({ "email": "closed@example.com", "username": "closed", "password": "correct horse battery", "full_name": "C" })).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let body = json!({ "email": format!("{}@example.com", unique("op")), "username": unique("op")[..12].to_string(), "full_name": "Op", "password": "correct horse battery", "email_verified": true });
    let made = op(&app, reqwest::Method::POST, "/admin/users", Some(body)).await;
    assert_eq!((made.status, &made.body["data"]["user"]["email_verified"]), (201, &json!(true)), "{}", made.body);
}

/// `asm admin` against a running host: tables for people, `--json` for scripts, accounts named
/// by email, erasure only with `--yes`, a refused token said plainly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_command_line_drives_a_running_host() {
    let app = spawn_with(with_admin(Options::default())).await;
    let creds = app.new_user().await;
    let session = app.login(&creds).await.token().unwrap();
    let cli = |args: &[&str], token: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_asm"))
            .arg("admin")
            .args(args)
            .env("ASM_ADMIN_URL", &app.base)
            .env("ADMIN_TOKEN", token)
            .current_dir(std::env::temp_dir())
            .output()
            .expect("the asm binary runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let tokens = format!("{TOKEN},{NEXT_TOKEN}");

    let (code, table, err) = cli(&["users", "list", &creds.email], &tokens);
    assert_eq!(code, Some(0), "{err}");
    assert!(table.contains(&creds.email) && table.contains(&creds.username), "{table}");
    assert!(table.contains("1 account"), "{table}");

    let (code, json, err) = cli(&["--json", "users", "show", &creds.email], &tokens);
    assert_eq!(code, Some(0), "{err}");
    let shown: Value = serde_json::from_str(&json).expect("--json prints JSON");
    assert_eq!(
        (shown["user"]["email"].as_str(), shown["user"]["active_sessions"].as_u64()),
        (Some(creds.email.as_str()), Some(1))
    );
    assert_eq!(shown["sessions"].as_array().unwrap().len(), 1);

    let (code, said, err) = cli(&["users", "disable", &creds.email], &tokens);
    assert_eq!(code, Some(0), "{err}");
    assert!(said.contains("1 session"), "{said}");
    assert_eq!(app.get_as(&session, "/auth/user/me").await.status, 401, "disabling ended the session");
    assert_eq!(cli(&["users", "enable", &creds.email], &tokens).0, Some(0));
    // The audit trail of the account, newest first, and filtered by type.
    let (code, trail, err) = cli(&["events", "--user", &creds.email], &tokens);
    assert_eq!(code, Some(0), "{err}");
    let types: Vec<&str> = ["user.enabled", "user.disabled", "session.created", "user.created"]
        .into_iter()
        .filter(|t| trail.contains(t))
        .collect();
    assert_eq!(types.len(), 4, "{trail}");
    assert!(trail.find("user.enabled") < trail.find("user.disabled"), "newest first: {trail}");
    let (code, json, err) = cli(&["--json", "events", "--user", &creds.email, "--type", "user.disabled"], &tokens);
    assert_eq!(code, Some(0), "{err}");
    let only: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(only["events"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(only["events"][0]["data"]["by"], "operator");
    let (code, _, err) = cli(&["events", "--type", "user.renamed"], &tokens);
    assert_eq!(code, Some(1));
    assert!(err.contains("must be one of"), "{err}");

    let (code, _, err) = cli(&["users", "delete", &creds.email], &tokens);
    assert_eq!(code, Some(1), "no erasure without --yes");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(app.login(&creds).await.status, 200, "still there");

    let (code, _, err) = cli(&["users", "list"], "an-operator-token-that-is-long-enough-9");
    assert_eq!(code, Some(1));
    assert!(err.contains("token was refused"), "{err}");
    let (code, _, err) = cli(&["users", "show", "nobody@example.com"], &tokens);
    assert_eq!(code, Some(1));
    assert!(err.contains("no account has the email"), "{err}");

    assert_eq!(cli(&["users", "delete", &creds.email, "--yes"], &tokens).0, Some(0));
    assert_eq!(app.login(&creds).await.status, 401, "erased");
}
