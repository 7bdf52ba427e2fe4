//! The store implementations behind the component's imports. Each backend implements the
//! `UserStore` and/or `SessionStore` contract of `wit/asm.wit`; the configuration picks them:
//! - users: PostgreSQL (`postgres://`) or SQLite (`sqlite://`, the default with no database);
//! - sessions and login-attempt counters: Redis when an address is given, else SQLite;
//! - locations: a MaxMind database file, loaded once.

pub mod geo;
pub mod postgres;
pub mod redis;
pub mod sqlite;

pub use crate::bindings::asm::auth::types::{
    Attempts, Device, LoginAttempt, LoginPage, NewUser, Session, StoreError, User,
};

pub type StoreResult<T> = Result<T, StoreError>;

/// Accounts and login history; each method is one atomic operation of the backend.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn record_login(&self, user_id: &str, at_ms: i64) -> StoreResult<()>;
    async fn update_password(&self, user_id: &str, password_hash: &str) -> StoreResult<()>;
    async fn record_login_attempt(&self, attempt: LoginAttempt) -> StoreResult<()>;
    async fn list_login_attempts(&self, user_id: &str, offset: u32, limit: u32) -> StoreResult<LoginPage>;
    async fn ping(&self) -> StoreResult<()>;
}

/// Sessions and login-attempt counters; each method is one atomic operation of the backend.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: Session, max_sessions: u32) -> StoreResult<Vec<String>>;
    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, token_hash: &str, at: i64, keep_until: i64) -> StoreResult<bool>;
    async fn delete_session(&self, user_id: &str, token_hash: &str) -> StoreResult<bool>;
    async fn delete_other_sessions(&self, user_id: &str, keep_token_hash: &str) -> StoreResult<u32>;
    async fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>>;
    async fn count_attempt(&self, key: &str, window_ms: u64) -> StoreResult<Attempts>;
    async fn uncount_attempt(&self, key: &str) -> StoreResult<()>;
    async fn reset_attempts(&self, key: &str) -> StoreResult<()>;
    async fn ping(&self) -> StoreResult<()>;
}

/// Everything a request's imports reach, shared by all requests.
pub struct Stores {
    pub users: std::sync::Arc<dyn UserStore>,
    pub sessions: std::sync::Arc<dyn SessionStore>,
    pub geo: geo::Geo,
}

pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_millis() as i64
}
