//! The store implementations behind the component's imports: users on PostgreSQL, sessions
//! and login-attempt counters on Redis, locations from a MaxMind database.

pub mod geo;
pub mod postgres;
pub mod redis;

pub use crate::bindings::asm::auth::types::{LoginAttempt, LoginPage, NewUser, Session, StoreError, User};

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything a request's imports reach, shared by all requests.
pub struct Stores {
    pub users: postgres::PgUsers,
    pub sessions: redis::RedisSessions,
    pub geo: geo::Geo,
}

pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_millis() as i64
}
