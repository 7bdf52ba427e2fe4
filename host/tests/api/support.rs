//! Starts the real host with the real component against real PostgreSQL and Redis, and talks
//! HTTP to it like a client.

use asm_host::config::{Cli, Command, ServeConfig};
use asm_host::server::{self, Server};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// The seed nodes (`redis://host:port`) of the local Redis Cluster the tests share: three
/// masters and three replicas started by `scripts/redis-cluster.sh` on first use (it leaves a
/// healthy one running; `make test` stops it at the end).
pub fn redis_cluster_nodes() -> Vec<String> {
    static NODES: OnceLock<Vec<String>> = OnceLock::new();
    NODES
        .get_or_init(|| {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-cluster.sh");
            let out = std::process::Command::new("bash").arg(&script).arg("start").output().unwrap_or_else(|e| {
                panic!("cannot run {}: {e}", script.display());
            });
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "the test Redis Cluster did not start ({}): {}{}\nFix: install redis-server (apt-get install -y redis-server) and free ports 7301-7306",
                script.display(),
                text,
                String::from_utf8_lossy(&out.stderr)
            );
            let line = text.lines().last().unwrap_or_default();
            line.split(',').map(|n| format!("redis://{n}")).collect()
        })
        .clone()
}

pub fn component() -> PathBuf {
    let path = std::env::var_os("ASM_COMPONENT").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/wasm/asm_guest.wasm")
    });
    assert!(
        path.exists(),
        "the component is not built at {}: run `make test` (or `make build-guest` first)",
        path.display()
    );
    path
}

/// The component that misbehaves on purpose (`host/tests/fault-component`), built beside the
/// auth component.
pub fn fault_component() -> PathBuf {
    let path = component().with_file_name("asm_fault_component.wasm");
    assert!(
        path.exists(),
        "the fault component is not built at {}: run `make test` (or `make build-test-components` first)",
        path.display()
    );
    path
}

/// A URL for `database` on the test server.
pub fn database_url_for(database: &str) -> String {
    let admin = admin_database_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{database}")
}

/// One database per test run, migrated, shared by the tests of this process (each test
/// uses its own users). Databases left by runs more than a day old are dropped.
pub fn database_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(create_test_database())
        })
        .join()
        .expect("creating the test database")
    })
    .clone()
}

/// A database of the test's own, migrated: for tests whose hosts must not share an outbox (a
/// host's mail worker delivers whatever its database holds).
pub async fn own_database() -> String {
    create_database(&unique("")[..8]).await
}

async fn create_test_database() -> String {
    create_database("").await
}

async fn create_database(tag: &str) -> String {
    use sqlx::Connection;
    let admin = admin_database_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL does not answer at {admin} ({e}): start it with `scripts/services.sh start`, or set TEST_DATABASE_URL")
    });
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let stale: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'asm_test_%'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for name in stale {
        let born: u64 = name.split('_').nth(2).and_then(|t| t.parse().ok()).unwrap_or(0);
        if now.saturating_sub(born) > 86_400 {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await;
        }
    }
    let name = format!("asm_test_{now}_{}{tag}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.unwrap();
    let url = database_url_for(&name);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    asm_host::migrate::MIGRATOR.run(&pool).await.expect("migrations apply to a fresh database");
    pool.close().await;
    url
}

pub fn unique(tag: &str) -> String {
    format!("{tag}{}", uuid::Uuid::new_v4().simple())
}

/// The key every test host signs with (32 bytes of 0x42, base64).
pub const TEST_SECRET_KEY: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

/// How a test wants its server.
#[derive(Clone)]
pub struct Options {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub redis_url: Option<String>,
    pub database_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            // Argon2id, as by default, with parameters that keep hundreds of sign-ins cheap.
            env: vec![("ARGON2_MEMORY_KIB".into(), "256".into()), ("ARGON2_ITERATIONS".into(), "1".into())],
            args: vec![],
            redis_url: None,
            database_url: None,
        }
    }
}

/// A fresh SQLite file for the embedded store.
pub fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join(unique("asm-sqlite-"));
    format!("sqlite://{}/asm.db", dir.display())
}

impl Options {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }
}

pub struct TestApp {
    pub base: String,
    /// The metrics listener's `/metrics`.
    pub metrics: String,
    /// The operators' listener (`--admin-addr`), when the test asked for one.
    pub admin: Option<String>,
    pub prefix: String,
    pub redis_url: String,
    pub database_url: String,
    pub client: reqwest::Client,
    server: Option<Running>,
}

/// What serves a test: the native host in this process, or `spin up` as a child process.
enum Running {
    Native(Server),
    Spin(crate::spin::SpinApp),
}

pub async fn spawn() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(opts: Options) -> TestApp {
    if crate::spin::target_is_spin() {
        let prefix = format!("{}:", unique("asm-test-"));
        let (redis_url, database_url) = (opts.redis_url.clone().unwrap_or_else(redis_url), database_url());
        let app = crate::spin::SpinApp::start(&opts, &database_url, &redis_url, &prefix).await;
        return TestApp {
            base: app.base.clone(),
            metrics: String::new(),
            admin: None,
            prefix,
            redis_url,
            database_url,
            client: client(),
            server: Some(Running::Spin(app)),
        };
    }
    let prefix = format!("{}:", unique("asm-test-"));
    // An empty Redis URL means none: sessions then live in the SQL database.
    let redis_url = opts.redis_url.clone().unwrap_or_else(redis_url);
    let database_url = opts.database_url.clone().unwrap_or_else(database_url);
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/asm-test-cache");
    let component = component();
    let mut flags: Vec<(String, String)> = [
        ("--host", "127.0.0.1"),
        ("--port", "0"),
        ("--max-concurrent-requests", "32"),
        ("--database-url", database_url.as_str()),
        ("--redis-url", redis_url.as_str()),
        ("--redis-addr", ""),
        ("--redis-key-prefix", prefix.as_str()),
        ("--component", component.to_str().unwrap()),
        ("--cache-dir", cache.to_str().unwrap()),
        ("--metrics-addr", "127.0.0.1:0"),
        ("--secret-key", TEST_SECRET_KEY),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for pair in opts.args.chunks(2) {
        flags.retain(|(k, _)| k != &pair[0]);
        flags.push((pair[0].clone(), pair[1].clone()));
    }
    let mut args = vec!["asm".to_string(), "serve".to_string()];
    for (k, v) in flags {
        args.push(k);
        args.push(v);
    }
    let cfg: ServeConfig = match Cli::try_parse_from(&args).expect("test arguments parse").command {
        Command::Serve(c) => c,
        _ => unreachable!(),
    };
    let runtime = server::build_runtime(&cfg, &opts.env).await.expect("the runtime starts");
    let server = server::start(&cfg, std::sync::Arc::new(runtime)).await.expect("the server starts");
    TestApp {
        base: format!("http://{}", server.addr),
        metrics: server.metrics_addr.map(|a| format!("http://{a}/metrics")).unwrap_or_default(),
        admin: server.admin_addr.map(|a| format!("http://{a}")),
        prefix,
        redis_url,
        database_url,
        client: client(),
        server: Some(Running::Native(server)),
    }
}

use clap::Parser as _;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(30)).build().unwrap()
}

/// A response with its parsed envelope.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("a body");
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        assert_eq!(body["status"], status, "envelope status matches HTTP status: {body}");
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "every response is JSON"
        );
        Reply { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Set-Cookie` header of the session cookie (`session_token`), if the response has one.
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie_named("session_token")
    }

    /// The `Set-Cookie` header of the named cookie, if the response has one.
    pub fn set_cookie_named(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|c| c.starts_with(&prefix))
    }

    /// The token in the session cookie this response set.
    pub fn token(&self) -> Option<String> {
        let cookie = self.set_cookie()?;
        let (_, rest) = cookie.split_once('=')?;
        Some(rest.split(';').next()?.to_string()).filter(|t| !t.is_empty())
    }
}

#[derive(Clone, Debug)]
pub struct Creds {
    pub email: String,
    pub username: String,
    pub password: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(&self.client, path).await
    }

    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> Reply {
        Reply::from(client.get(self.url(path)).send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.post_with(&self.client, path, body).await
    }

    pub async fn post_with(&self, client: &reqwest::Client, path: &str, body: Value) -> Reply {
        Reply::from(client.post(self.url(path)).json(&body).send().await.expect("request sent")).await
    }

    pub async fn register(&self, body: Value) -> Reply {
        self.post("/auth/register", body).await
    }

    /// Registers a fresh user and returns the credentials.
    pub async fn new_user(&self) -> Creds {
        let creds = Creds {
            email: format!("{}@example.com", unique("u")),
            username: unique("user")[..20].to_string(),
            password: "correct horse battery".into(),
        };
        let r = self
            .register(serde_json::json!({
                "email": creds.email, "username": creds.username,
                "password": creds.password, "full_name": "Test User"
            }))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        creds
    }

    pub async fn login(&self, creds: &Creds) -> Reply {
        self.login_with(&self.client, &creds.email, &creds.password).await
    }

    pub async fn login_with(&self, client: &reqwest::Client, email: &str, password: &str) -> Reply {
        self.post_with(client, "/auth/login", serde_json::json!({ "email": email, "password": password })).await
    }

    /// Signs in from a fresh client (a device of its own) and returns the session token.
    pub async fn login_with_new_client(&self, creds: &Creds) -> String {
        let r = self.login_with(&client(), &creds.email, &creds.password).await;
        r.token().unwrap_or_else(|| panic!("signed in: {} {}", r.status, r.body))
    }

    /// A request with the token as cookie and no cookie store.
    pub async fn get_as(&self, token: &str, path: &str) -> Reply {
        let resp = reqwest::Client::new()
            .get(self.url(path))
            .header("cookie", format!("session_token={token}"))
            .send()
            .await
            .expect("request sent");
        Reply::from(resp).await
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    /// Every key this app wrote, with its value (strings) or members (sorted sets).
    pub async fn redis_dump(&self) -> Vec<(String, Vec<String>)> {
        let mut conn = self.redis().await;
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query_async(&mut conn).await.unwrap();
        let mut out = Vec::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut conn).await.unwrap();
            let values: Vec<String> = match kind.as_str() {
                "string" => vec![redis::cmd("GET").arg(&key).query_async(&mut conn).await.unwrap()],
                "hash" => redis::cmd("HVALS").arg(&key).query_async(&mut conn).await.unwrap(),
                "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query_async(&mut conn).await.unwrap(),
                _ => vec![],
            };
            out.push((key, values));
        }
        out
    }

    pub async fn shutdown(mut self) {
        match self.server.take() {
            Some(Running::Native(s)) => s.shutdown().await,
            Some(Running::Spin(app)) => app.stop(),
            None => {}
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Remove this test's keys; the prefix is unique to it.
        if let Ok(client) = redis::Client::open(self.redis_url.as_str())
            && let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1))
            && let Ok(keys) = redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query::<Vec<String>>(&mut conn)
            && !keys.is_empty()
        {
            let _ = redis::cmd("DEL").arg(keys).query::<i64>(&mut conn);
        }
    }
}
