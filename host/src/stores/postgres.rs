//! The user store on PostgreSQL. Schema in `migrations/`.

use super::{LoginAttempt, LoginPage, NewUser, StoreError, StoreResult, User, UserStore};
use asm_store_queries::postgres as q;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Row, postgres::PgRow};
use std::time::Duration;

#[derive(Clone)]
pub struct PgUsers {
    pool: PgPool,
}

impl PgUsers {
    /// Connects lazily: the host starts while PostgreSQL is down and connects when it is back.
    pub fn new(url: &str, timeout: Duration, max_connections: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new().max_connections(max_connections).acquire_timeout(timeout).connect_lazy(url)?;
        Ok(PgUsers { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl UserStore for PgUsers {
    async fn create_user(&self, u: NewUser) -> StoreResult<User> {
        let row = sqlx::query(q::CREATE_USER)
            .bind(&u.email)
            .bind(&u.username)
            .bind(&u.full_name)
            .bind(&u.password_hash)
            .fetch_one(&self.pool)
            .await
            .map_err(error)?;
        user(&row)
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(q::FIND_USER_BY_EMAIL).bind(email).fetch_optional(&self.pool).await.map_err(error)?;
        row.as_ref().map(user).transpose()
    }

    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        // Ids are UUIDs; anything else names no user (and must not become a SQL error).
        let Ok(id) = uuid::Uuid::parse_str(id) else { return Ok(None) };
        let row = sqlx::query(q::FIND_USER_BY_ID).bind(id).fetch_optional(&self.pool).await.map_err(error)?;
        row.as_ref().map(user).transpose()
    }

    async fn record_login(&self, user_id: &str, at_ms: i64) -> StoreResult<()> {
        let Ok(id) = uuid::Uuid::parse_str(user_id) else { return Ok(()) };
        sqlx::query(q::RECORD_LOGIN).bind(id).bind(at_ms as f64).execute(&self.pool).await.map_err(error)?;
        Ok(())
    }

    async fn update_password(&self, user_id: &str, password_hash: &str) -> StoreResult<()> {
        let Ok(id) = uuid::Uuid::parse_str(user_id) else { return Ok(()) };
        sqlx::query(q::UPDATE_PASSWORD).bind(id).bind(password_hash).execute(&self.pool).await.map_err(error)?;
        Ok(())
    }

    async fn record_login_attempt(&self, a: LoginAttempt) -> StoreResult<()> {
        let Ok(id) = uuid::Uuid::parse_str(&a.user_id) else { return Ok(()) };
        sqlx::query(q::INSERT_LOGIN_ATTEMPT)
            .bind(id)
            .bind(&a.outcome)
            .bind(&a.ip_address)
            .bind(&a.user_agent)
            .bind(&a.device_info)
            .bind(&a.location)
            .bind(a.at as f64)
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn list_login_attempts(&self, user_id: &str, offset: u32, limit: u32) -> StoreResult<LoginPage> {
        let Ok(id) = uuid::Uuid::parse_str(user_id) else { return Ok(LoginPage { attempts: vec![], total: 0 }) };
        let rows = sqlx::query(q::LIST_LOGIN_ATTEMPTS)
            .bind(id)
            .bind(offset as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        let get = |e: sqlx::Error| StoreError::Internal(format!("postgres row: {e}"));
        let mut total: i64 = 0;
        let mut attempts = Vec::with_capacity(rows.len());
        for row in &rows {
            total = row.try_get("total").map_err(get)?;
            attempts.push(LoginAttempt {
                id: row.try_get("id").map_err(get)?,
                user_id: user_id.to_string(),
                outcome: row.try_get("outcome").map_err(get)?,
                ip_address: row.try_get("ip_address").map_err(get)?,
                user_agent: row.try_get("user_agent").map_err(get)?,
                device_info: row.try_get("device_info").map_err(get)?,
                location: row.try_get("location").map_err(get)?,
                at: row.try_get("at").map_err(get)?,
            });
        }
        if rows.is_empty() && offset > 0 {
            total = sqlx::query_scalar(q::COUNT_LOGIN_ATTEMPTS).bind(id).fetch_one(&self.pool).await.map_err(error)?;
        }
        Ok(LoginPage { attempts, total: total.max(0) as u64 })
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query(q::PING).execute(&self.pool).await.map_err(error)?;
        Ok(())
    }
}

fn user(row: &PgRow) -> StoreResult<User> {
    let get = |e: sqlx::Error| StoreError::Internal(format!("postgres row: {e}"));
    Ok(User {
        id: row.try_get("id").map_err(get)?,
        email: row.try_get("email").map_err(get)?,
        username: row.try_get("username").map_err(get)?,
        full_name: row.try_get("full_name").map_err(get)?,
        password_hash: row.try_get("password_hash").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        last_login: row.try_get("last_login").map_err(get)?,
    })
}

/// Unique violations become conflicts naming the field; a database that cannot be reached is
/// `unavailable`; everything else is internal.
fn error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(q::conflict_field(db.constraint()).into())
        }
        sqlx::Error::Database(db) if db.code().is_some_and(|c| q::is_unavailable(&c)) => {
            StoreError::Unavailable(format!("postgres: {e}"))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("postgres: {e}")),
        _ => StoreError::Internal(format!("postgres: {e}")),
    }
}
