//! Configuration: every setting is a flag and an environment variable (`.env` is read too).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "asm", version, about = "asm, the Auth Session Manager: a wasm auth component and its native host")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP with the auth component.
    Serve(ServeConfig),
    /// Manage the PostgreSQL schema.
    Migrate(MigrateArgs),
    /// Operators' commands, through a running service's admin API.
    Admin(crate::admin::AdminArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where `create` writes new migration files.
    #[arg(long, env = "MIGRATIONS_DIR", default_value = "migrations")]
    pub dir: PathBuf,
    #[command(subcommand)]
    pub action: MigrateAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last N applied migrations.
    Down {
        #[arg(default_value_t = 1)]
        n: usize,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Record VERSION as the current version without running SQL (repairs a failed migration).
    Force { version: i64 },
    /// Write an empty up/down pair named NAME into the migrations folder.
    Create { name: String },
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// `postgres://…` for users in PostgreSQL, or `sqlite://path` for the embedded store
    /// (default: sqlite://./data/asm.db, which also holds the sessions unless Redis is set).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Most PostgreSQL connections the host opens.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// Redis URL for the session store (wins over REDIS_ADDR).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Redis `host:port`, as the old service took it.
    #[arg(long, env = "REDIS_ADDR")]
    pub redis_addr: Option<String>,
    #[arg(long, env = "REDIS_PASSWORD", hide_env_values = true)]
    pub redis_password: Option<String>,
    #[arg(long, env = "REDIS_DB", default_value_t = 0)]
    pub redis_db: u32,
    /// Redis Cluster seed nodes, `host:port,host:port,...` (REDIS_PASSWORD applies to every
    /// node). Wins over REDIS_URL and REDIS_ADDR.
    #[arg(long, env = "REDIS_CLUSTER_NODES")]
    pub redis_cluster_nodes: Option<String>,
    /// Replicas that must confirm a write that ends sessions or counts a failed sign-in before
    /// it is acknowledged, so a failover does not undo it (WAIT). Default: 1 on a Redis
    /// Cluster, 0 (no waiting) on one Redis.
    #[arg(long, env = "REDIS_WAIT_REPLICAS")]
    pub redis_wait_replicas: Option<u32>,
    /// Longest such a write waits for its replicas; past it the write stands and a warning is
    /// logged (and counted in /metrics).
    #[arg(long, env = "REDIS_WAIT_TIMEOUT", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub redis_wait_timeout: Duration,
    /// Prefix of every Redis key the service writes (no `{` or `}`: those mark hash slots).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "asm:")]
    pub redis_key_prefix: String,

    /// The key the component's MACs (trusted-device cookies) are made with: base64 of at least
    /// 32 random bytes (`openssl rand -base64 32`). Wins over the key file.
    #[arg(long, env = "ASM_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Keys used before, still accepted when verifying (comma-separated), while what they
    /// signed is still in use.
    #[arg(long, env = "ASM_PREVIOUS_SECRET_KEYS", hide_env_values = true)]
    pub previous_secret_keys: Option<String>,
    /// A file holding the key (base64) when ASM_SECRET_KEY is not set. In development it
    /// defaults to ./data/secret.key and is created with a random key when missing; production
    /// uses a key file only when it is named here.
    #[arg(long, env = "ASM_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// The mail server reset and verification mail goes to: `smtp://host:port` (plain),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://user:password@host:465` (implicit
    /// TLS). Without it, development writes mail to the log; production refuses to start.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of that mail.
    #[arg(long, env = "MAIL_FROM", default_value = "asm <no-reply@localhost>")]
    pub mail_from: String,
    /// Longest one message's SMTP exchange may take before it is tried again later.
    #[arg(long, env = "SMTP_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub smtp_timeout: Duration,

    /// Where every event is posted as a Standard Webhooks message (http:// or https://);
    /// unset: events are kept and readable at /admin/events, and posted nowhere.
    #[arg(long, env = "WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// The key webhooks are signed with, as Standard Webhooks writes it: `whsec_` and base64 of
    /// at least 24 random bytes (`echo whsec_$(openssl rand -base64 32)`).
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Longest a receiver may take to answer one delivery before it is tried again later.
    #[arg(long, env = "WEBHOOK_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub webhook_timeout: Duration,
    /// How long events are kept (then swept, with any delivery still waiting).
    #[arg(long, env = "EVENT_RETENTION", default_value = "90d", value_parser = humantime::parse_duration)]
    pub event_retention: Duration,

    /// A MaxMind City or Country database (.mmdb); without one, public addresses read `Unknown`.
    #[arg(long, env = "GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,

    /// The auth component.
    #[arg(long, env = "ASM_COMPONENT", default_value = "target/wasm32-wasip2/wasm/asm_guest.wasm")]
    pub component: PathBuf,
    /// Where compiled components are kept so a restart does not recompile
    /// (default: $XDG_CACHE_HOME/asm or ~/.cache/asm).
    #[arg(long, env = "ASM_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Longest a request may run inside the component.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Longest one store call may take before the request gets a 503.
    #[arg(long, env = "STORE_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub store_timeout: Duration,
    /// Linear-memory cap of one component instance, in MiB.
    #[arg(long, env = "INSTANCE_MEMORY_MB", default_value_t = 64)]
    pub instance_memory_mb: u64,
    /// Requests served at once; more wait for a free instance slot.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    pub max_concurrent_requests: u32,
    /// Password hashes running at once (0: half the machine's cores, at least one). Hashing is
    /// the one expensive thing the service does; bounding it keeps a flood of sign-ins from
    /// taking the CPU that session checks need.
    #[arg(long, env = "HASH_CONCURRENCY", default_value_t = 0)]
    pub hash_concurrency: u32,
    /// Requests that may wait for a turn at hashing; past it they get 503 with Retry-After at once.
    #[arg(long, env = "HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: u32,
    /// Longest a request waits for a turn at hashing before it gets 503 with Retry-After.
    #[arg(long, env = "HASH_WAIT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub hash_wait: Duration,
    /// Open connections at once; more wait to be accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: u32,
    /// Longest a client may take to send a request's line and headers, and longest an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// Longest a client may take to send a request's body (408 after it).
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,
    /// `perfmap` writes /tmp/perf-<pid>.map so `perf` names the component's functions
    /// (docs/PERFORMANCE.md shows how); `none` (default) writes nothing.
    #[arg(long, env = "WASM_PROFILER", default_value = "none", value_parser = ["none", "perfmap"])]
    pub wasm_profiler: String,
    /// Serve the operators' routes (`/admin`) only here, and answer 404 for them on the public
    /// listener (`host:port`; unset: they are served with the rest, behind ADMIN_TOKEN).
    #[arg(long, env = "ADMIN_ADDR")]
    pub admin_addr: Option<String>,
    /// Where `/metrics` is served (Prometheus text), apart from the service; `off` for nowhere.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: String,

    /// `text` or `json` (default: json in production, text otherwise).
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,
}

/// The embedded database used when DATABASE_URL is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/asm.db";

impl ServeConfig {
    pub fn database_url(&self) -> String {
        match self.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => url.to_string(),
            _ => DEFAULT_DATABASE_URL.to_string(),
        }
    }

    /// The Redis Cluster seed nodes as URLs, when REDIS_CLUSTER_NODES is set.
    pub fn redis_cluster_urls(&self) -> Option<Vec<String>> {
        let nodes: Vec<String> = self
            .redis_cluster_nodes
            .as_deref()?
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| if n.contains("://") { n.to_string() } else { format!("redis://{n}") })
            .collect();
        (!nodes.is_empty()).then_some(nodes)
    }

    /// The Redis connection URL from REDIS_URL, or REDIS_ADDR + REDIS_PASSWORD + REDIS_DB.
    pub fn redis_connection_url(&self) -> Option<String> {
        if let Some(url) = self.redis_url.as_ref().filter(|u| !u.trim().is_empty()) {
            return Some(url.trim().to_string());
        }
        let addr = self.redis_addr.as_ref().filter(|a| !a.trim().is_empty())?;
        let auth = match self.redis_password.as_deref() {
            Some(p) if !p.is_empty() => format!(":{}@", percent_encode(p)),
            _ => String::new(),
        };
        Some(format!("redis://{auth}{}/{}", addr.trim(), self.redis_db))
    }

    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("asm")
    }

    /// How writes that must outlive a failover wait for replicas, on a cluster or one Redis.
    pub fn replica_wait(&self, cluster: bool) -> crate::stores::redis::ReplicaWait {
        let replicas = self.redis_wait_replicas.unwrap_or(u32::from(cluster));
        crate::stores::redis::ReplicaWait { replicas, timeout: self.redis_wait_timeout }
    }

    /// Hashes that may run at once.
    pub fn hash_concurrency(&self) -> u32 {
        match self.hash_concurrency {
            0 => crate::runtime::hashing::default_concurrency(),
            n => n,
        }
    }

    /// The operators' listener's address, when they have one.
    pub fn admin_addr(&self) -> Option<&str> {
        self.admin_addr.as_deref().map(str::trim).filter(|a| !a.is_empty() && *a != "off")
    }

    /// The metrics listener's address, unless metrics are off.
    pub fn metrics_addr(&self) -> Option<&str> {
        let a = self.metrics_addr.trim();
        (!a.is_empty() && a != "off").then_some(a)
    }

    pub fn json_logs(&self) -> bool {
        match self.log_format.as_deref() {
            Some("json") => true,
            Some(_) => false,
            None => production(),
        }
    }
}

/// Whether the service runs in production (`APP_ENV`, the component's setting).
pub fn production() -> bool {
    matches!(std::env::var("APP_ENV").as_deref().map(str::trim), Ok("production") | Ok("prod"))
}

impl ServeConfig {}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a password in a URL).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL with its secrets replaced, for logs: the password of its user, and the value of any
/// query parameter whose name says it is one (`password=`, `sslpassword=`, `token=`, …).
pub fn redact(raw: &str) -> String {
    const SECRET_NAMES: [&str; 6] = ["pass", "pwd", "secret", "token", "key", "auth"];
    let Ok(mut url) = url::Url::parse(raw) else {
        // Not a URL we can take apart: keep only what cannot hold a secret.
        return match raw.find("://") {
            Some(i) => format!("{}://***", &raw[..i]),
            None => "***".into(),
        };
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let secret = SECRET_NAMES.iter().any(|s| k.to_ascii_lowercase().contains(s));
            (k.into_owned(), if secret { "***".to_string() } else { v.into_owned() })
        })
        .collect();
    if !pairs.is_empty() {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeConfig {
        let mut all = vec!["asm", "serve"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Serve(c) => c,
            _ => unreachable!(),
        }
    }

    #[test]
    fn redis_addr_and_password_make_a_url() {
        let c = serve(&["--redis-addr", "cache:6380", "--redis-password", "p@ss/w:rd", "--redis-db", "2"]);
        assert_eq!(c.redis_connection_url().unwrap(), "redis://:p%40ss%2Fw%3Ard@cache:6380/2");
        let c = serve(&["--redis-url", "redis://x:1/0", "--redis-addr", "ignored:1"]);
        assert_eq!(c.redis_connection_url().unwrap(), "redis://x:1/0");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@db:5432/x"), "postgres://u:***@db:5432/x");
        assert_eq!(redact("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
        assert_eq!(
            redact("postgres://u@db/x?sslmode=require&password=hunter2&sslpassword=p%40ss"),
            "postgres://u@db/x?sslmode=require&password=***&sslpassword=***"
        );
        assert_eq!(redact("rediss://:s3cret@cache:6380/1?protocol=resp3"), "rediss://:***@cache:6380/1?protocol=resp3");
        assert_eq!(redact("sqlite://./data/asm.db"), "sqlite://./data/asm.db");
        assert_eq!(redact("not a url with a password"), "***");
    }
}
