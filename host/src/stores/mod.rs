//! The stores behind the component's imports, chosen from the configuration alone:
//! - users: PostgreSQL (`postgres://`) or the embedded SQLite file (`sqlite://`, the default);
//! - sessions and login-attempt counters: a Redis Cluster (REDIS_CLUSTER_NODES) or one Redis
//!   server (REDIS_URL, REDIS_ADDR) when given; else the database that holds the users
//!   (PostgreSQL or SQLite) holds them too;
//! - locations: a MaxMind database file, loaded once;
//! - the secret keys the component's MACs are made with;
//! - mail: queued in the users' database (its outbox), delivered by a worker
//!   ([`crate::mail`]) over SMTP, or into the log in development.
//!
//! The PostgreSQL and Redis stores themselves are `asm_stores::{postgres, postgres_sessions,
//! redis}`; this module gives them their drivers (sqlx, the redis crate). SQLite is a store of
//! its own here.

pub mod geo;
pub mod keys;
pub mod postgres;
pub mod redis;
pub mod sqlite;

use crate::config::{ServeConfig, redact};
use anyhow::Context as _;
pub use asm_contract::*;
use std::sync::Arc;

/// Everything a request's imports reach, shared by all requests. The fields are named after
/// the WIT interfaces they answer.
pub struct Stores {
    pub user_store: Arc<dyn UserStore>,
    pub session_store: Arc<dyn SessionStore>,
    pub geo: Arc<dyn Geo>,
    pub keyring: Arc<dyn Keyring>,
    pub mailer: Arc<dyn Mailer>,
    pub events: Arc<dyn Events>,
    /// Where a request's webhook deliveries are released when it ends (WEBHOOK_URL is set).
    pub release: Option<Arc<crate::webhooks::Release>>,
}

impl Stores {
    /// PostgreSQL or SQLite for users (SQLite when no database is configured); Redis (a
    /// cluster or one server) for sessions when configured, else the users' database.
    pub async fn from_config(cfg: &ServeConfig) -> anyhow::Result<Stores> {
        let database_url = cfg.database_url();
        let redis_url = cfg.redis_connection_url();
        let cluster = cfg.redis_cluster_urls();
        if cluster.is_some() || redis_url.is_some() {
            anyhow::ensure!(
                !cfg.redis_key_prefix.contains(['{', '}']),
                "REDIS_KEY_PREFIX must not contain {{ or }} (they choose Redis Cluster hash slots): {:?}",
                cfg.redis_key_prefix
            );
        }
        let transport = Arc::new(match cfg.smtp_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => crate::mail::Transport::smtp(url, &cfg.mail_from, cfg.smtp_timeout)?,
            None => crate::mail::Transport::Log,
        });
        let mut sqlite: Option<Arc<sqlite::SqliteStore>> = None;
        let mut pg: Option<postgres::Pg> = None;
        let user_store: Arc<dyn UserStore> =
            if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
                let driver = postgres::driver(&database_url, cfg.store_timeout, cfg.database_max_connections)
                    .context("DATABASE_URL is not a usable PostgreSQL URL")?;
                pg = Some(driver.clone());
                Arc::new(asm_stores::postgres::PostgresUsers::new(driver))
            } else if database_url.starts_with("sqlite:") {
                let store = Arc::new(
                    sqlite::SqliteStore::open(&database_url, cfg.store_timeout)
                        .await
                        .with_context(|| format!("cannot open the SQLite database {}", redact(&database_url)))?,
                );
                sqlite = Some(store.clone());
                store
            } else {
                anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite: (got {})", redact(&database_url));
            };
        let (session_store, sessions_at): (Arc<dyn SessionStore>, String) = if let Some(nodes) = &cluster {
            let wait = cfg.replica_wait(true);
            let store = redis::connect_cluster(
                nodes,
                cfg.redis_password.as_deref(),
                &cfg.redis_key_prefix,
                cfg.store_timeout,
                wait,
            )
            .context("REDIS_CLUSTER_NODES is not usable")?;
            (Arc::new(store), format!("redis cluster ({} seed nodes)", nodes.len()))
        } else if let Some(url) = &redis_url {
            let store = redis::connect_with(url, &cfg.redis_key_prefix, cfg.store_timeout, cfg.replica_wait(false))
                .context("the Redis address is not usable")?;
            (Arc::new(store), redact(url))
        } else if let Some(driver) = pg.clone() {
            let store = Arc::new(asm_stores::postgres_sessions::PostgresSessions::new(driver, false));
            spawn_sweeper(store.clone());
            (store, redact(&database_url))
        } else {
            let store = sqlite.clone().expect("the users are in PostgreSQL or SQLite");
            (store, redact(&database_url))
        };
        let geo: Arc<dyn Geo> = match &cfg.geoip_db {
            Some(path) => Arc::new(geo::open(path)?),
            None => Arc::new(NoGeo),
        };
        tracing::info!(
            user_store = %redact(&database_url),
            session_store = %sessions_at,
            geoip = cfg.geoip_db.is_some(),
            "stores configured"
        );
        let keyring = Arc::new(keys::load(cfg)?);
        let webhooks = match cfg.webhook_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => {
                let secret = cfg.webhook_secret.as_deref().unwrap_or_default();
                anyhow::ensure!(
                    !secret.trim().is_empty(),
                    "WEBHOOK_URL is set but WEBHOOK_SECRET is not: webhooks are always signed"
                );
                Some(Arc::new(crate::webhooks::Webhooks::new(url, secret, cfg.webhook_timeout)?))
            }
            None => None,
        };
        type Queues = (Arc<dyn Mailer>, Arc<dyn Events>, Arc<dyn asm_stores::outbox::Outbox>);
        let (queue, events, outbox): Queues = match (&pg, &sqlite) {
            (Some(driver), _) => (
                Arc::new(asm_stores::postgres::PostgresMailer::new(driver.clone())),
                Arc::new(asm_stores::postgres::PostgresEvents::new(driver.clone(), webhooks.is_some())),
                Arc::new(asm_stores::postgres::PostgresOutbox::new(driver.clone())),
            ),
            (None, Some(store)) => {
                store.deliver_webhooks(webhooks.is_some());
                (store.clone(), store.clone(), store.clone())
            }
            (None, None) => unreachable!("the users are in PostgreSQL or SQLite"),
        };
        let wake = Arc::new(tokio::sync::Notify::new());
        crate::outbox::spawn_worker(outbox.clone(), transport, wake.clone(), Some(cfg.event_retention));
        let mailer = Arc::new(crate::mail::Queueing { store: queue, wake });
        let release = webhooks.map(|courier| {
            let wake = Arc::new(tokio::sync::Notify::new());
            crate::outbox::spawn_worker(outbox.clone(), courier, wake.clone(), None);
            Arc::new(crate::webhooks::Release { outbox, wake })
        });
        tracing::info!(
            webhooks = release.is_some(),
            "events kept; webhooks {}",
            if release.is_some() { "on" } else { "off" }
        );
        Ok(Stores { user_store, session_store, geo, keyring, mailer, events, release })
    }
}

/// Deletes ended sessions from PostgreSQL every minute (reads ignore them already), more often
/// while there is a backlog.
fn spawn_sweeper(store: Arc<asm_stores::postgres_sessions::PostgresSessions<postgres::Pg>>) {
    tokio::spawn(async move {
        loop {
            let pause = match store.sweep().await {
                Ok(n) if n >= 1000 => std::time::Duration::from_millis(100),
                Ok(_) => std::time::Duration::from_secs(60),
                Err(e) => {
                    tracing::warn!(error = %e, "sweeping ended sessions failed; retrying in a minute");
                    std::time::Duration::from_secs(60)
                }
            };
            tokio::time::sleep(pause).await;
        }
    });
}

pub fn now_ms() -> i64 {
    asm_stores::now_ms()
}
