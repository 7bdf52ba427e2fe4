//! The stores behind the component's imports, chosen from the configuration alone:
//! - users: PostgreSQL (`postgres://`) or the embedded SQLite file (`sqlite://`, the default);
//! - sessions and login-attempt counters: Redis when an address is given, else SQLite;
//! - locations: a MaxMind database file, loaded once;
//! - the secret keys the component's MACs are made with.
//!
//! The PostgreSQL and Redis stores themselves are `asm_stores::{postgres, redis}`; this module
//! gives them their drivers (sqlx, the redis crate). SQLite is a store of its own here.

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
}

impl Stores {
    /// PostgreSQL or SQLite for users (SQLite when no database is configured); Redis for
    /// sessions when an address is given, else the SQLite database holds them too.
    pub async fn from_config(cfg: &ServeConfig) -> anyhow::Result<Stores> {
        let database_url = cfg.database_url();
        let redis_url = cfg.redis_connection_url();
        let mut sqlite: Option<Arc<sqlite::SqliteStore>> = None;
        let user_store: Arc<dyn UserStore> =
            if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
                Arc::new(
                    postgres::connect(&database_url, cfg.store_timeout, cfg.database_max_connections)
                        .context("DATABASE_URL is not a usable PostgreSQL URL")?,
                )
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
        let session_store: Arc<dyn SessionStore> = match (&redis_url, &sqlite) {
            (Some(url), _) => Arc::new(
                redis::connect(url, &cfg.redis_key_prefix, cfg.store_timeout)
                    .context("the Redis address is not usable")?,
            ),
            (None, Some(store)) => store.clone(),
            (None, None) => anyhow::bail!(
                "sessions need Redis when users live in PostgreSQL: set REDIS_URL, or REDIS_ADDR (and REDIS_PASSWORD), e.g. REDIS_ADDR=127.0.0.1:6379"
            ),
        };
        let geo: Arc<dyn Geo> = match &cfg.geoip_db {
            Some(path) => Arc::new(geo::open(path)?),
            None => Arc::new(NoGeo),
        };
        tracing::info!(
            user_store = %redact(&database_url),
            session_store = %redis_url.as_deref().map(redact).unwrap_or_else(|| redact(&database_url)),
            geoip = cfg.geoip_db.is_some(),
            "stores configured"
        );
        let keyring = Arc::new(keys::load(cfg)?);
        Ok(Stores { user_store, session_store, geo, keyring })
    }
}

pub fn now_ms() -> i64 {
    asm_stores::now_ms()
}
