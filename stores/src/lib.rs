//! The stores that need no particular driver.
//!
//! - [`memory`]: the in-memory reference implementation of the whole contract;
//! - [`postgres`]: the user store on PostgreSQL; [`redis`]: the session store on Redis (one
//!   node or a cluster); [`postgres_sessions`]: the session store on PostgreSQL, for
//!   deployments without Redis. Each is written once over a small driver trait that the native
//!   host implements with sqlx and the redis crate, and the Spin adapter with Spin's own clients;
//! - [`outbox`]: the mail outbox a host's delivery worker empties;
//! - [`record`]: the stored form of a session, which outlives any one release's WIT record;
//! - [`geo`]: lookups in a MaxMind database held in memory.
//!
//! The native host's embedded SQLite store is in `host/src/stores/sqlite.rs`.

pub mod geo;
pub mod keyring;
pub mod memory;
pub mod outbox;
pub mod postgres;
pub mod postgres_sessions;
pub mod record;
pub mod redis;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// How long a login-attempt counter outlives an attempt in flight that never reports its end
/// (its request died): far longer than any login takes.
pub const ATTEMPT_LEASE_MS: i64 = 5 * 60 * 1000;

/// How long a store that expires keys remembers a user's credential version after a change:
/// far longer than any login takes.
pub const CREDENTIAL_MEMORY_MS: i64 = 24 * 3600 * 1000;

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_millis() as i64
}
