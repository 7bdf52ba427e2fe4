//! The binary's commands: migrations, start-up errors, the compiled-component cache.

use crate::support::*;
use std::process::Command;

fn asm(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    // A directory of its own: the default SQLite file (./data/asm.db) of one run, or of another
    // checkout on the machine with other migrations, is never this run's.
    let dir = std::env::temp_dir().join(unique("asm-cwd-"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_asm"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_ADDR")
        .env_remove("REDIS_URL")
        .envs(env.iter().copied())
        .current_dir(&dir)
        .output()
        .expect("the asm binary runs");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn table_exists(url: &str, table: &str) -> bool {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let found: Option<String> =
        sqlx::query_scalar("SELECT to_regclass($1)::text").bind(table).fetch_one(&pool).await.unwrap();
    pool.close().await;
    found.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_go_up_down_and_up_again() {
    database_url(); // the server answers
    let name = unique("asm_mig_");
    let url = database_url_for(&name);
    let env = [("DATABASE_URL", url.as_str())];

    let (ok, out) = asm(&["migrate", "up"], &env);
    assert!(ok, "{out}");
    assert!(out.contains("created database"), "up creates a missing database: {out}");
    assert!(table_exists(&url, "users").await);
    let (ok, out) = asm(&["migrate", "status"], &env);
    assert!(ok && out.contains("applied") && !out.contains("pending"), "{out}");

    let versions: std::collections::BTreeSet<i64> = asm_host::migrate::MIGRATOR.iter().map(|m| m.version).collect();
    let newest = versions.len() - 1;
    let (ok, out) = asm(&["migrate", "down", &newest.to_string()], &env);
    assert!(ok, "{out}");
    assert!(!table_exists(&url, "recovery_codes").await, "down N reverts the N newest migrations");
    assert!(!table_exists(&url, "mail_outbox").await && !table_exists(&url, "outbox").await);
    assert!(!table_exists(&url, "events").await);
    assert!(!table_exists(&url, "sessions").await);
    assert!(!table_exists(&url, "login_attempts").await);
    assert!(table_exists(&url, "users").await, "and only those");
    let (ok, out) = asm(&["migrate", "down", "9"], &env);
    assert!(ok, "{out}");
    assert!(!table_exists(&url, "users").await, "down reverts every migration");
    let (_, out) = asm(&["migrate", "status"], &env);
    assert!(out.contains("pending") && !out.contains("applied"), "{out}");

    let latest = asm_host::migrate::MIGRATOR.iter().map(|m| m.version).max().unwrap().to_string();
    let (ok, out) = asm(&["migrate", "force", &latest], &env);
    assert!(ok, "{out}");
    let (_, out) = asm(&["migrate", "status"], &env);
    assert!(!out.contains("pending"), "force records the version without running it: {out}");
    let (ok, _) = asm(&["migrate", "force", "0"], &env);
    assert!(ok);
    let (ok, out) = asm(&["migrate", "up"], &env);
    assert!(ok, "{out}");
    assert!(table_exists(&url, "users").await);

    let admin = sqlx::PgPool::connect(&admin_database_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).execute(&admin).await.unwrap();
}

#[test]
fn migrate_create_writes_an_up_and_a_down() {
    let dir = std::env::temp_dir().join(unique("asm-create-"));
    let (ok, out) = asm(&["migrate", "--dir", dir.to_str().unwrap(), "create", "Add login history"], &[]);
    assert!(ok, "{out}");
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("_add_login_history.down.sql") && names[1].ends_with("_add_login_history.up.sql"));
    assert_eq!(names[0].split('_').next().unwrap().len(), 14, "a UTC timestamp version");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn serve_refuses_a_half_configuration_and_says_what_to_set() {
    let (ok, out) =
        asm(&["serve", "--port", "0"], &[("REDIS_ADDR", "127.0.0.1:6379"), ("REDIS_KEY_PREFIX", "asm:{x}:")]);
    assert!(!ok);
    assert!(out.contains("REDIS_KEY_PREFIX"), "a prefix that would pick hash slots: {out}");
    let (ok, out) = asm(&["serve", "--port", "0"], &[("DATABASE_URL", "mysql://x@127.0.0.1/x")]);
    assert!(!ok);
    assert!(out.contains("DATABASE_URL"), "{out}");
    let (ok, out) =
        asm(&["serve", "--port", "0"], &[("BCRYPT_COST", "99"), ("DATABASE_URL", "postgres://x@127.0.0.1/x")]);
    assert!(!ok);
    assert!(out.contains("BCRYPT_COST"), "{out}");
    // Production takes no key it was not given, not even a key file left in its directory.
    let dir = std::env::temp_dir().join(unique("key-dir-"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/secret.key"), "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_asm"))
        .args(["serve", "--port", "0", "--metrics-addr", "off"])
        .env("APP_ENV", "production")
        .env("SMTP_URL", "smtp://127.0.0.1:2525")
        .env("PUBLIC_URL", "https://auth.example.com")
        .env_remove("ASM_SECRET_KEY")
        .env_remove("ASM_SECRET_KEY_FILE")
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("ASM_SECRET_KEY") && text.contains("openssl rand"), "{text}");
    let missing = dir.join("nowhere.key");
    let env = [
        ("APP_ENV", "production"),
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("PUBLIC_URL", "https://auth.example.com"),
        ("ASM_SECRET_KEY_FILE", missing.to_str().unwrap()),
    ];
    let (ok, out) = asm(&["serve", "--port", "0", "--metrics-addr", "off"], &env);
    assert!(!ok && out.contains("does not exist"), "{out}");
    let (ok, out) = asm(&["serve", "--port", "0", "--metrics-addr", "off"], &[("ASM_SECRET_KEY", "c2hvcnQ=")]);
    assert!(!ok && out.contains("at least 32"), "{out}");
    // Argon2id's memory is the instance's: one that cannot fit would fail every sign-in.
    let (ok, out) = asm(&["serve", "--port", "0", "--metrics-addr", "off"], &[("ARGON2_MEMORY_KIB", "131072")]);
    assert!(!ok && out.contains("INSTANCE_MEMORY_MB") && out.contains("ARGON2_MEMORY_KIB"), "{out}");
    let (ok, out) = asm(&["serve", "--port", "0", "--metrics-addr", "off"], &[("PASSWORD_HASH", "scrypt")]);
    assert!(!ok && out.contains("PASSWORD_HASH"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compiled_component_is_cached_for_the_next_start() {
    let cache = std::env::temp_dir().join(unique("asm-cache-"));
    let app = spawn_with(Options::default().arg("--cache-dir", cache.to_str().unwrap())).await;
    assert_eq!(app.get("/healthz").await.status, 200);
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].extension().is_some_and(|e| e == "cwasm"));
    let modified = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    let again = spawn_with(Options::default().arg("--cache-dir", cache.to_str().unwrap())).await;
    assert_eq!(again.get("/healthz").await.status, 200);
    assert_eq!(std::fs::metadata(&cached[0]).unwrap().modified().unwrap(), modified, "loaded, not rewritten");
    std::fs::remove_dir_all(cache).unwrap();
}

/// The binary that `make run` builds serves the component only: the native engine (no
/// isolation, no deadline) exists only in the benchmark's own binary.
#[test]
fn the_shipped_binary_has_no_native_engine() {
    let (ok, help) = asm(&["serve", "--help"], &[]);
    assert!(ok, "{help}");
    assert!(!help.contains("--engine") && !help.to_lowercase().contains("native"), "{help}");
    let (ok, out) = asm(&["serve", "--engine", "native"], &[]);
    assert!(!ok && out.contains("--engine"), "{out}");
}

/// Passwords in the stores' URLs, in the user part or as query parameters, never reach the log.
#[test]
fn passwords_in_store_urls_are_not_logged() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let db = "postgres://postgres:pg-hunter2@127.0.0.1:1/asm?sslmode=disable&password=pq-hunter2";
    let redis = "redis://:rd-hunter2@127.0.0.1:1/0";
    let mut child = Command::new(env!("CARGO_BIN_EXE_asm"))
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string(), "--metrics-addr", "off"])
        .args(["--component", component().to_str().unwrap()])
        .env("DATABASE_URL", db)
        .env("REDIS_URL", redis)
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It starts (stores connect lazily) and logs where its stores are; then a request that needs
    // them fails, which logs the stores' errors too.
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the host did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = std::process::Command::new("curl").args(["-s", &format!("http://127.0.0.1:{port}/readyz")]).output();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(log.contains("stores configured"), "{log}");
    assert!(!log.contains("hunter2"), "a password reached the log:\n{log}");
    assert!(log.contains("password=***") && log.contains(":***@"), "{log}");
}

/// Production refuses to start without a mail server and without the address links point at:
/// a reset link that is never sent, or points anywhere, is no recovery.
#[test]
fn production_needs_a_mail_server_and_a_public_url() {
    let db = format!("sqlite://{}/asm.db", std::env::temp_dir().join(unique("asm-prod-")).display());
    let base = [("APP_ENV", "production"), ("ASM_SECRET_KEY", TEST_SECRET_KEY), ("DATABASE_URL", db.as_str())];
    let serve = ["serve", "--port", "0", "--metrics-addr", "off"];
    let (ok, out) = asm(&serve, &base);
    assert!(!ok && out.contains("SMTP_URL is required in production"), "{out}");
    let with_smtp = [&base[..], &[("SMTP_URL", "smtp://127.0.0.1:2525")]].concat();
    let (ok, out) = asm(&serve, &with_smtp);
    assert!(!ok && out.contains("PUBLIC_URL is required in production"), "{out}");
    let with_both = [&with_smtp[..], &[("PUBLIC_URL", "https://auth.example.com")]].concat();
    let (ok, out) = asm(&serve, &[&with_both[..], &[("SMTP_URL", "http://mail.example.com")]].concat());
    assert!(!ok && out.contains("SMTP_URL is not usable"), "{out}");
}
