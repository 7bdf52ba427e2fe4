//! The stores the auth logic needs, as a plain Rust trait. The component implements it with
//! the WIT imports (`component.rs`); tests implement it in memory. The types mirror `wit/asm.wit`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub username: String,
    pub full_name: String,
    pub password_hash: String,
    pub created_at: i64,
    pub last_login: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub username: String,
    pub full_name: String,
    pub password_hash: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    pub category: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub ip_address: String,
    pub user_agent: String,
    pub device: Device,
    pub location: String,
    pub created_at: i64,
    pub last_activity: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub id: String,
    pub user_id: String,
    pub outcome: String,
    pub ip_address: String,
    pub user_agent: String,
    pub device_info: String,
    pub location: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPage {
    pub attempts: Vec<LoginAttempt>,
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    pub retry_after_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoLocation {
    pub city: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    Conflict(String),
    Unavailable(String),
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the component imports from its host, one method per WIT function.
pub trait Host {
    fn create_user(&self, user: NewUser) -> StoreResult<User>;
    fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    fn record_login(&self, user_id: &str, at: i64) -> StoreResult<()>;
    fn update_password(&self, user_id: &str, password_hash: &str) -> StoreResult<()>;
    fn record_login_attempt(&self, attempt: LoginAttempt) -> StoreResult<()>;
    fn list_login_attempts(&self, user_id: &str, offset: u32, limit: u32) -> StoreResult<LoginPage>;
    fn ping_users(&self) -> StoreResult<()>;

    fn create_session(&self, session: Session, max_sessions: u32) -> StoreResult<Vec<String>>;
    fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    fn touch_session(&self, token_hash: &str, at: i64, keep_until: i64) -> StoreResult<bool>;
    fn delete_session(&self, user_id: &str, token_hash: &str) -> StoreResult<bool>;
    fn delete_other_sessions(&self, user_id: &str, keep_token_hash: &str) -> StoreResult<u32>;
    fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>>;
    fn count_attempt(&self, key: &str, window_ms: u64) -> StoreResult<Attempts>;
    fn uncount_attempt(&self, key: &str) -> StoreResult<()>;
    fn reset_attempts(&self, key: &str) -> StoreResult<()>;
    fn ping_sessions(&self) -> StoreResult<()>;

    fn geo_lookup(&self, ip: &str) -> Option<GeoLocation>;

    /// Wall-clock time in Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// Bytes from a CSPRNG.
    fn random_bytes(&self, len: usize) -> Vec<u8>;
}
