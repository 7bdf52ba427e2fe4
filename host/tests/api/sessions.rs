use crate::support::*;

const UAS: [&str; 3] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
];

fn client_with_ua(ua: &str) -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).user_agent(ua).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_returns_the_current_user() {
    let app = spawn().await;
    let creds = app.new_user().await;
    assert_eq!(app.login(&creds).await.status, 200);
    let r = app.get("/auth/user/me").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let user = &r.body["data"]["user"];
    assert_eq!(user["email"], creds.email);
    assert_eq!(user["username"], creds.username);
    assert_eq!(user["full_name"], "Test User");
    for field in ["created_at", "last_login"] {
        let t = user[field].as_str().unwrap_or_else(|| panic!("{field} is a timestamp: {user}"));
        assert!(t.ends_with('Z') && t.len() == 20, "RFC 3339 UTC: {t}");
    }
    assert!(user.get("password_hash").is_none());
}

/// `/me` comes from the session store's copy of the profile: it shows the newest login from
/// any session, and when the copy is gone (evicted, or written by an older release) the user
/// store answers and the copy is made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_shows_the_newest_login_and_survives_a_lost_profile() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let first = app.login(&creds).await.token().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = app.login(&creds).await.token().unwrap();
    let a = app.get_as(&first, "/auth/user/me").await;
    let b = app.get_as(&second, "/auth/user/me").await;
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(a.body["data"], b.body["data"], "both sessions show the same account and the newest login");
    let created = a.body["data"]["user"]["created_at"].as_str().unwrap().to_string();
    assert_ne!(a.body["data"]["user"]["last_login"].as_str().unwrap(), created, "not the first login's time");

    let profiles: Vec<String> =
        app.redis_dump().await.into_iter().map(|(k, _)| k).filter(|k| k.contains(":profile:")).collect();
    assert_eq!(profiles.len(), 1, "one profile per user: {profiles:?}");
    let mut conn = app.redis().await;
    let _: i64 = redis::cmd("DEL").arg(&profiles).query_async(&mut conn).await.unwrap();
    let healed = app.get_as(&first, "/auth/user/me").await;
    assert_eq!((healed.status, &healed.body["data"]), (200, &a.body["data"]), "the user store says the same");
    let again: Vec<String> =
        app.redis_dump().await.into_iter().map(|(k, _)| k).filter(|k| k.contains(":profile:")).collect();
    assert_eq!(again, profiles, "kept again for the next check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_routes_need_a_session() {
    let app = spawn().await;
    for path in ["/auth/user/me", "/auth/user/sessions"] {
        let r = app.get(path).await;
        assert_eq!(r.status, 401, "{path}");
        assert!(r.body["error"].is_string());
    }
    let r = Reply::from(app.client.post(app.url("/auth/logout")).send().await.unwrap()).await;
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_at_once() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 200);
    let r = Reply::from(app.client.post(app.url("/auth/logout")).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let cleared = r.set_cookie().unwrap();
    assert!(cleared.starts_with("session_token=;") && cleared.contains("Max-Age=0"), "{cleared}");
    // The old token is dead even when replayed by hand.
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 401);
    assert_eq!(app.get("/auth/user/me").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_mutated_and_garbage_tokens_are_refused() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    let mut mutated = token.clone().into_bytes();
    mutated[10] = if mutated[10] == b'A' { b'B' } else { b'A' };
    let mutated = String::from_utf8(mutated).unwrap();
    // The routing tag changed, the secret kept: another slot, another hash.
    let mut rerouted = token.clone().into_bytes();
    rerouted[1] = if rerouted[1] == b'A' { b'B' } else { b'A' };
    let rerouted = String::from_utf8(rerouted).unwrap();
    let forged = "A".repeat(48);
    // The shape of tokens before the routing tag: 43 characters.
    let old_shape = "A".repeat(43);
    for bad in [mutated.as_str(), &rerouted, &forged, &old_shape, &token[..47], &format!("{token}x"), "", "%00", "a=b"]
    {
        assert_eq!(app.get_as(bad, "/auth/user/me").await.status, 401, "token {bad:?}");
    }
    let bearer = reqwest::Client::new().get(app.url("/auth/user/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(bearer.status(), 200, "the real token still works, as a Bearer header too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_parsed_devices_with_exactly_one_current() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let clients: Vec<_> = UAS.iter().map(|ua| client_with_ua(ua)).collect();
    for c in &clients {
        assert_eq!(app.login_with(c, &creds.email, &creds.password).await.status, 200);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let r = app.get_with(&clients[0], "/auth/user/sessions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["total_active_sessions"], 3);
    let sessions = r.body["data"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let current: Vec<_> = sessions.iter().filter(|s| s["current_session"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], UAS[0]);
    let infos: Vec<&str> = sessions.iter().map(|s| s["device_info"].as_str().unwrap()).collect();
    // Newest first: the iPhone logged in last.
    assert!(infos[0].starts_with("Safari 17 on iPhone"), "{infos:?}");
    assert_eq!(infos[1], "Firefox 121 on Windows 10");
    assert_eq!(infos[2], "Chrome 120 on Mac OSX");
    assert_eq!(sessions[2]["device"]["browser"], "Chrome");
    assert_eq!(sessions[2]["device"]["browser_version"], "120.0.0.0");
    assert_eq!(sessions[2]["device"]["os"], "Mac OSX");
    assert_eq!(sessions[2]["device"]["category"], "pc");
    assert_eq!(sessions[0]["device"]["category"], "smartphone");
    for s in sessions {
        assert_eq!(s["ip_address"], "127.0.0.1");
        assert_eq!(s["location"], "Local");
        let id = s["id"].as_str().unwrap();
        assert!(id.len() >= 22, "a public id: {id}");
        for field in ["created_at", "last_activity", "expires_at"] {
            assert!(s[field].as_str().unwrap().ends_with('Z'), "{field}");
        }
    }
    let last: Vec<&str> = sessions.iter().map(|s| s["last_activity"].as_str().unwrap()).collect();
    assert!(last.windows(2).all(|w| w[0] >= w[1]), "sorted newest first: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_client_address_header_is_replaced_by_the_peer_address() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let resp = app
        .client
        .post(app.url("/auth/login"))
        .header("spin-client-addr", "81.2.69.160:4444")
        .json(&serde_json::json!({ "email": creds.email, "password": creds.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = app.get("/auth/user/sessions").await;
    assert_eq!(r.body["data"]["sessions"][0]["ip_address"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_on_their_own() {
    let app = spawn_with(Options::default().env("SESSION_LIFETIME", "1s")).await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(app.get_as(&token, "/auth/user/me").await.status, 401);
    // Gone from Redis too: no session key and no index entry is left behind.
    let fresh = app.login(&creds).await.token().unwrap();
    let dump = app.redis_dump().await;
    let sessions: Vec<_> = dump.iter().filter(|(k, _)| k.contains(":session:")).collect();
    assert_eq!(sessions.len(), 1, "{dump:?}");
    let index: Vec<_> = dump.iter().filter(|(k, _)| k.contains(":user-sessions:")).collect();
    assert_eq!(index.len(), 1);
    assert_eq!(index[0].1.len(), 1, "expired entries are pruned from the index: {dump:?}");
    assert_eq!(app.get_as(&fresh, "/auth/user/me").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_token_is_stored_nowhere() {
    let app = spawn().await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    let dump = app.redis_dump().await;
    assert!(!dump.is_empty());
    for (key, values) in &dump {
        assert!(!key.contains(&token), "token in key {key}");
        for v in values {
            assert!(!v.contains(&token), "token in the value of {key}");
        }
    }
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "users"));
    for table in tables {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t")).fetch_all(&pool).await.unwrap();
        assert!(rows.iter().all(|r| !r.contains(&token)), "token in table {table}");
    }
}
