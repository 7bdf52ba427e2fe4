//! The embedded store: users, login history, sessions and login-attempt counters in one SQLite
//! file (schema in `migrations/sqlite/`). SQLite runs one writer at a time; every operation is
//! one statement or one `BEGIN IMMEDIATE` transaction, so each is atomic.

use super::now_ms;
use asm_contract::*;
use asm_stores::ATTEMPT_LEASE_MS;
use asm_stores::outbox::{Backlog, HOLD_MS, Kind, Message, Outbox, Queued};
use asm_stores::record;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Connection, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Whether an event's webhook delivery is queued with it (WEBHOOK_URL is set).
    webhooks: Arc<AtomicBool>,
}

impl SqliteStore {
    /// Opens (creating the file and its folder when missing) and migrates the database.
    pub async fn open(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(timeout)
            .foreign_keys(true);
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let pool = SqlitePoolOptions::new().max_connections(8).acquire_timeout(timeout).connect_with(options).await?;
        MIGRATOR.run(&pool).await?;
        let store = SqliteStore { pool, webhooks: Arc::default() };
        store.spawn_cleanup();
        Ok(store)
    }

    /// Queue each event's webhook delivery with it from now on.
    pub fn deliver_webhooks(&self, on: bool) {
        self.webhooks.store(on, Ordering::Relaxed);
    }

    /// Deletes expired sessions and counters once a minute (reads ignore them already).
    fn spawn_cleanup(&self) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                if pool.is_closed() {
                    break;
                }
                let now = now_ms();
                let _ = sqlx::query("DELETE FROM sessions WHERE keep_until <= ?1 OR expires_at <= ?1")
                    .bind(now)
                    .execute(&pool)
                    .await;
                let _ = sqlx::query("DELETE FROM login_counters WHERE keep_until <= ?1").bind(now).execute(&pool).await;
            }
        });
    }
}

#[async_trait::async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, u: NewUser) -> StoreResult<User> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO users (id, email, username, full_name, password_hash, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )
        .bind(&id)
        .bind(&u.email)
        .bind(&u.username)
        .bind(&u.full_name)
        .bind(&u.password_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(u.into_user(id, now))
    }

    async fn find_user_by_email(&self, email: String) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE lower(email) = lower(?1)")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(user).transpose()
    }

    async fn find_user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = ?1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(user).transpose()
    }

    async fn record_login(&self, user_id: UserId, at_ms: i64) -> StoreResult<u64> {
        let issued: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET last_login = ?2, devices_issued = devices_issued + 1 WHERE id = ?1 RETURNING devices_issued",
        )
        .bind(user_id.as_str())
        .bind(at_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        Ok(issued.unwrap_or(0).max(0) as u64)
    }

    async fn update_password(&self, user_id: UserId, password_hash: String) -> StoreResult<u64> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = ?2, credential_version = credential_version + 1, updated_at = ?3 \
             WHERE id = ?1 RETURNING credential_version",
        )
        .bind(user_id.as_str())
        .bind(password_hash)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await
        .map_err(error)?;
        sqlx::query("DELETE FROM user_tokens WHERE user_id = ?1 AND purpose IN ('password_reset', 'mfa_login')")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        tx.commit().await.map_err(error)?;
        Ok(version.unwrap_or(0).max(0) as u64)
    }

    async fn rehash_password(&self, user_id: UserId, current_hash: String, new_hash: String) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE users SET password_hash = ?3, updated_at = ?4 WHERE id = ?1 AND password_hash = ?2")
                .bind(user_id.as_str())
                .bind(current_hash)
                .bind(new_hash)
                .bind(now_ms())
                .execute(&self.pool)
                .await
                .map_err(error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_login_attempt(&self, a: AttemptRecord, keep: Retention) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        // Found by email in the statement itself: an email without an account costs the same.
        sqlx::query(
            "INSERT INTO login_attempts (user_id, outcome, ip_address, user_agent, device_info, location, created_at) \
             SELECT id, ?2, ?3, ?4, ?5, ?6, ?7 FROM users WHERE lower(email) = lower(?1)",
        )
        .bind(&a.email)
        .bind(a.outcome.as_str())
        .bind(&a.ip_address)
        .bind(&a.user_agent)
        .bind(&a.device_info)
        .bind(&a.location)
        .bind(a.at)
        .execute(&mut *tx)
        .await
        .map_err(error)?;
        sqlx::query(
            "DELETE FROM login_attempts WHERE user_id = (SELECT id FROM users WHERE lower(email) = lower(?1)) \
             AND (created_at < ?2 OR id NOT IN (SELECT id FROM login_attempts WHERE user_id = \
               (SELECT id FROM users WHERE lower(email) = lower(?1)) ORDER BY created_at DESC, id DESC LIMIT ?3))",
        )
        .bind(&a.email)
        .bind(a.at.saturating_sub(keep.max_age_ms.min(i64::MAX as u64) as i64))
        .bind(keep.max_count.max(1) as i64)
        .execute(&mut *tx)
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)
    }

    async fn list_login_attempts(&self, user_id: UserId, offset: u32, limit: u32) -> StoreResult<LoginPage> {
        let rows = sqlx::query(
            "SELECT * FROM login_attempts WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?2",
        )
        .bind(user_id.as_str())
        .bind(offset as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM login_attempts WHERE user_id = ?1")
            .bind(user_id.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(error)?;
        let attempts = rows
            .iter()
            .map(|r| {
                Ok(LoginAttempt {
                    id: r.try_get::<i64, _>("id").map_err(row_error)?.to_string(),
                    user_id: user_id.as_str().to_string(),
                    outcome: outcome(r.try_get("outcome").map_err(row_error)?)?,
                    ip_address: r.try_get("ip_address").map_err(row_error)?,
                    user_agent: r.try_get("user_agent").map_err(row_error)?,
                    device_info: r.try_get("device_info").map_err(row_error)?,
                    location: r.try_get("location").map_err(row_error)?,
                    at: r.try_get("created_at").map_err(row_error)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(LoginPage { attempts, total: total.max(0) as u64 })
    }

    async fn issue_token(
        &self,
        email: String,
        purpose: TokenPurpose,
        token_hash: String,
        expires_at: i64,
    ) -> StoreResult<Option<User>> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let row = sqlx::query("SELECT * FROM users WHERE lower(email) = lower(?1)")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?;
        let account = row.as_ref().map(user).transpose()?;
        // One row either way (without an account, one with no user, which redeems nothing), so
        // both cases cost the same write; an account keeps one token per purpose.
        sqlx::query(
            "INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (user_id, purpose) DO UPDATE SET token_hash = excluded.token_hash, \
               expires_at = excluded.expires_at",
        )
        .bind(&token_hash)
        .bind(account.as_ref().map(|u| u.id.clone()))
        .bind(purpose.as_str())
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)?;
        Ok(account)
    }

    async fn redeem_token(
        &self,
        purpose: TokenPurpose,
        token_hash: String,
        now: i64,
        consume: bool,
    ) -> StoreResult<Option<User>> {
        let sql = if consume {
            "DELETE FROM user_tokens WHERE token_hash = ?1 AND purpose = ?2 AND expires_at > ?3 RETURNING user_id"
        } else {
            "SELECT user_id FROM user_tokens WHERE token_hash = ?1 AND purpose = ?2 AND expires_at > ?3"
        };
        let owner: Option<String> = sqlx::query_scalar(sql)
            .bind(&token_hash)
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        match owner {
            Some(id) => self.find_user_by_id(UserId::from(id)).await,
            None => Ok(None),
        }
    }

    async fn mark_email_verified(&self, user_id: UserId) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        sqlx::query("UPDATE users SET email_verified_at = coalesce(email_verified_at, ?2) WHERE id = ?1")
            .bind(user_id.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        sqlx::query("DELETE FROM user_tokens WHERE user_id = ?1 AND purpose = 'email_verification'")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        tx.commit().await.map_err(error)
    }

    async fn begin_totp(&self, user_id: UserId, sealed_secret: Bytes) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE users SET totp_secret = ?2, totp_last_step = 0 WHERE id = ?1 AND totp_enabled = 0")
                .bind(user_id.as_str())
                .bind(sealed_secret)
                .execute(&self.pool)
                .await
                .map_err(error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn enable_totp(&self, user_id: UserId, recovery_code_hashes: Strings) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let done = sqlx::query(
            "UPDATE users SET totp_enabled = 1 WHERE id = ?1 AND totp_enabled = 0 AND totp_secret IS NOT NULL",
        )
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        put_codes(&mut tx, user_id.as_str(), &recovery_code_hashes).await?;
        tx.commit().await.map_err(error)?;
        Ok(true)
    }

    async fn disable_totp(&self, user_id: UserId) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        sqlx::query("UPDATE users SET totp_secret = NULL, totp_enabled = 0, totp_last_step = 0 WHERE id = ?1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        put_codes(&mut tx, user_id.as_str(), &[]).await?;
        tx.commit().await.map_err(error)
    }

    async fn replace_recovery_codes(&self, user_id: UserId, recovery_code_hashes: Strings) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let on: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1 AND totp_enabled = 1")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?;
        if on.is_none() {
            return Ok(false);
        }
        put_codes(&mut tx, user_id.as_str(), &recovery_code_hashes).await?;
        tx.commit().await.map_err(error)?;
        Ok(true)
    }

    async fn accept_totp_step(&self, user_id: UserId, step: u64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 AND totp_secret IS NOT NULL AND totp_last_step < ?2",
        )
        .bind(user_id.as_str())
        .bind(step.min(i64::MAX as u64) as i64)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, user_id: UserId, code_hash: String) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?1 AND code_hash = ?2")
            .bind(user_id.as_str())
            .bind(code_hash)
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn search_users(&self, query: String, limit: u32, after: Cursor) -> StoreResult<UserPage> {
        let limit = limit.max(1) as i64;
        let (after_ms, after_id) = match after.as_deref().and_then(|c| c.split_once(':')) {
            Some((ms, id)) => (ms.parse::<i64>().unwrap_or(i64::MIN), id.to_string()),
            None => (i64::MIN, String::new()),
        };
        let rows = sqlx::query(
            "SELECT * FROM users WHERE (?1 = '' OR lower(email) LIKE ?1 || '%' ESCAPE '\\' \
               OR lower(username) LIKE ?1 || '%' ESCAPE '\\') \
             AND (created_at > ?2 OR (created_at = ?2 AND id > ?3)) ORDER BY created_at, id LIMIT ?4",
        )
        .bind(asm_stores::postgres::like_prefix(&query))
        .bind(after_ms)
        .bind(&after_id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        let mut users = rows.iter().map(user).collect::<StoreResult<Vec<_>>>()?;
        let next = (users.len() as i64 > limit).then(|| {
            let last = &users[limit as usize - 1];
            format!("{}:{}", last.created_at, last.id)
        });
        users.truncate(limit as usize);
        Ok(UserPage { users, next })
    }

    async fn update_user(&self, user_id: UserId, changes: UserChanges) -> StoreResult<Option<User>> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let Some(row) = sqlx::query("SELECT * FROM users WHERE id = ?1")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?
        else {
            return Ok(None);
        };
        let before = user(&row)?;
        let new_email = changes.email.filter(|e| !e.is_empty());
        let verified_at = match (changes.email_verified, &new_email) {
            (Some(true), _) => {
                Some(row.try_get::<Option<i64>, _>("email_verified_at").map_err(row_error)?.unwrap_or(now_ms()))
            }
            (Some(false), _) => None,
            (None, Some(email)) if !email.eq_ignore_ascii_case(&before.email) => None,
            (None, _) => row.try_get::<Option<i64>, _>("email_verified_at").map_err(row_error)?,
        };
        sqlx::query(
            "UPDATE users SET email = coalesce(?2, email), username = coalesce(?3, username), \
               full_name = coalesce(?4, full_name), email_verified_at = ?5, updated_at = ?6 WHERE id = ?1",
        )
        .bind(user_id.as_str())
        .bind(new_email)
        .bind(changes.username.filter(|u| !u.is_empty()))
        .bind(changes.full_name.filter(|n| !n.is_empty()))
        .bind(verified_at)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(error)?;
        let row = sqlx::query("SELECT * FROM users WHERE id = ?1")
            .bind(user_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(error)?;
        let after = user(&row)?;
        tx.commit().await.map_err(error)?;
        Ok(Some(after))
    }

    async fn set_disabled(&self, user_id: UserId, disabled: bool) -> StoreResult<Option<u64>> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET disabled = ?2, credential_version = credential_version + 1, updated_at = ?3 \
             WHERE id = ?1 RETURNING credential_version",
        )
        .bind(user_id.as_str())
        .bind(disabled)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await
        .map_err(error)?;
        if disabled {
            sqlx::query("DELETE FROM user_tokens WHERE user_id = ?1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(error)?;
        }
        tx.commit().await.map_err(error)?;
        Ok(version.map(|v| v.max(0) as u64))
    }

    async fn delete_user(&self, user_id: UserId) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let email: Option<String> = sqlx::query_scalar("DELETE FROM users WHERE id = ?1 RETURNING email")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?;
        if let Some(email) = &email {
            sqlx::query(
                "DELETE FROM outbox WHERE kind = 'mail' AND lower(recipient) = lower(?1) \
                 AND (locked_until IS NULL OR locked_until < ?2)",
            )
            .bind(email)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(error)?;
            // The account's events keep their id, type and time, nothing that names the person.
            sqlx::query("UPDATE events SET data = '{}', ip_address = '' WHERE user_id = ?1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(error)?;
        }
        tx.commit().await.map_err(error)?;
        Ok(email.is_some())
    }

    async fn begin_email_change(
        &self,
        user_id: UserId,
        new_email: String,
        token_hash: String,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at, detail) \
               SELECT ?3, id, 'email_change', ?4, ?2 FROM users WHERE id = ?1 \
             ON CONFLICT (user_id, purpose) DO UPDATE SET token_hash = excluded.token_hash, \
               expires_at = excluded.expires_at, detail = excluded.detail",
        )
        .bind(user_id.as_str())
        .bind(&new_email)
        .bind(&token_hash)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn confirm_email_change(
        &self,
        token_hash: String,
        now: i64,
        apply: bool,
    ) -> StoreResult<Option<EmailChanged>> {
        if !apply {
            let pending: Option<(String, String)> = sqlx::query_as(
                "SELECT user_id, detail FROM user_tokens WHERE token_hash = ?1 AND purpose = 'email_change' AND expires_at > ?2",
            )
            .bind(&token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
            let Some((user_id, new_email)) = pending else { return Ok(None) };
            let taken: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM users WHERE lower(email) = lower(?1) AND id != ?2")
                    .bind(&new_email)
                    .bind(&user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(error)?;
            if taken.is_some() {
                return Err(StoreError::Conflict("email".into()));
            }
            let row = sqlx::query("SELECT * FROM users WHERE id = ?1").bind(&user_id).fetch_optional(&self.pool).await;
            let Some(row) = row.map_err(error)? else { return Ok(None) };
            let account = user(&row)?;
            let previous_email = account.email.clone();
            return Ok(Some(EmailChanged {
                user: User { email: new_email, email_verified: true, ..account },
                previous_email,
            }));
        }
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let pending: Option<(String, String)> = sqlx::query_as(
            "DELETE FROM user_tokens WHERE token_hash = ?1 AND purpose = 'email_change' AND expires_at > ?2 \
             RETURNING user_id, detail",
        )
        .bind(&token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(error)?;
        let Some((user_id, new_email)) = pending else { return Ok(None) };
        let previous_email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = ?1")
            .bind(&user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(error)?;
        // A unique violation here rolls the whole transaction back: the token stays.
        sqlx::query("UPDATE users SET email = ?2, email_verified_at = ?3, updated_at = ?3 WHERE id = ?1")
            .bind(&user_id)
            .bind(&new_email)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        let row =
            sqlx::query("SELECT * FROM users WHERE id = ?1").bind(&user_id).fetch_one(&mut *tx).await.map_err(error)?;
        let changed = user(&row)?;
        tx.commit().await.map_err(error)?;
        Ok(Some(EmailChanged { user: changed, previous_email }))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(error)?;
        Ok(())
    }
}

/// Replaces the user's recovery codes with these hashes, inside the caller's transaction.
async fn put_codes(tx: &mut sqlx::SqliteConnection, user_id: &str, hashes: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(error)?;
    for hash in hashes {
        sqlx::query("INSERT OR IGNORE INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)")
            .bind(user_id)
            .bind(hash)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Mailer for SqliteStore {
    async fn send(&self, m: Mail) -> StoreResult<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO outbox (recipient, subject, text_body, html_body, created_at, next_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )
        .bind(m.to)
        .bind(m.subject)
        .bind(m.text)
        .bind(m.html)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(())
    }
}

/// The outbox in the SQLite file. One host owns the file, but the claim is still a lease, as on
/// PostgreSQL, so a worker that dies mid-delivery gives its messages back.
#[async_trait::async_trait]
impl Outbox for SqliteStore {
    async fn claim(&self, kind: Kind, limit: u32, lease_ms: u64) -> StoreResult<Vec<Queued>> {
        let now = now_ms();
        // SQLite takes no UPDATE inside WITH: the claim, then the events of what it claimed.
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let rows = sqlx::query(
            "UPDATE outbox SET locked_until = ?1 + ?3, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox o WHERE kind = ?4 AND sent_at IS NULL AND failed_at IS NULL \
               AND next_attempt_at <= ?1 AND (locked_until IS NULL OR locked_until < ?1) \
               AND (order_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox p WHERE p.order_key = o.order_key \
                 AND p.id < o.id AND p.sent_at IS NULL AND p.failed_at IS NULL)) \
               ORDER BY next_attempt_at, id LIMIT ?2) \
             RETURNING id, recipient, subject, text_body, html_body, attempts, created_at, event_id",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(lease_ms.min(i64::MAX as u64) as i64)
        .bind(kind.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(error)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for r in &rows {
            let message = match r.try_get::<Option<i64>, _>("event_id").map_err(row_error)? {
                Some(id) => {
                    let e = sqlx::query("SELECT id, type, user_id, at, ip_address, data FROM events WHERE id = ?1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(error)?;
                    Message::Webhook(event_of(&e)?)
                }
                None => Message::Mail(Mail {
                    to: r.try_get("recipient").map_err(row_error)?,
                    subject: r.try_get("subject").map_err(row_error)?,
                    text: r.try_get("text_body").map_err(row_error)?,
                    html: r.try_get("html_body").map_err(row_error)?,
                }),
            };
            claimed.push(Queued {
                id: r.try_get("id").map_err(row_error)?,
                message,
                attempts: r.try_get::<i64, _>("attempts").map_err(row_error)?.clamp(0, u32::MAX.into()) as u32,
                queued_at: r.try_get("created_at").map_err(row_error)?,
            });
        }
        tx.commit().await.map_err(error)?;
        claimed.sort_by_key(|q| q.id);
        Ok(claimed)
    }

    async fn sent(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET sent_at = ?2, locked_until = NULL, last_error = NULL WHERE id = ?1")
            .bind(id)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn retry(&self, id: i64, after_ms: u64, error_text: String) -> StoreResult<()> {
        let next = now_ms().saturating_add(after_ms.min(i64::MAX as u64) as i64);
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        sqlx::query("UPDATE outbox SET locked_until = NULL, last_error = ?3, next_attempt_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(next)
            .bind(error_text)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        // What waits behind it (its order key's) is not due before it.
        sqlx::query(
            "UPDATE outbox SET next_attempt_at = ?2 WHERE order_key = (SELECT order_key FROM outbox WHERE id = ?1) \
             AND id > ?1 AND sent_at IS NULL AND failed_at IS NULL AND next_attempt_at < ?2",
        )
        .bind(id)
        .bind(next)
        .execute(&mut *tx)
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)?;
        Ok(())
    }

    async fn failed(&self, id: i64, error_text: String) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET locked_until = NULL, last_error = ?3, failed_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(now_ms())
            .bind(error_text)
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn release(&self, event_ids: Vec<i64>) -> StoreResult<()> {
        let now = now_ms();
        for id in event_ids {
            sqlx::query(
                "UPDATE outbox SET next_attempt_at = ?2 WHERE event_id = ?1 AND sent_at IS NULL AND next_attempt_at > ?2",
            )
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(error)?;
        }
        Ok(())
    }

    async fn backlog(&self, kind: Kind) -> StoreResult<Backlog> {
        let (pending, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(created_at) FROM outbox WHERE kind = ?1 AND sent_at IS NULL AND failed_at IS NULL",
        )
        .bind(kind.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(error)?;
        Ok(Backlog { pending: pending.max(0) as u64, oldest })
    }

    async fn sweep(&self, keep_ms: u64, event_retention_ms: u64) -> StoreResult<u64> {
        let now = now_ms();
        let before = now.saturating_sub(keep_ms.min(i64::MAX as u64) as i64);
        let mail = sqlx::query("DELETE FROM outbox WHERE coalesce(sent_at, failed_at) < ?1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(error)?;
        let tokens = sqlx::query("DELETE FROM user_tokens WHERE expires_at < ?1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(error)?;
        let events = sqlx::query("DELETE FROM events WHERE at < ?1")
            .bind(now.saturating_sub(event_retention_ms.min(i64::MAX as u64) as i64))
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(mail.rows_affected() + tokens.rows_affected() + events.rows_affected())
    }
}

fn event_type(name: &str) -> StoreResult<EventType> {
    EventType::parse(name).ok_or_else(|| StoreError::Internal(format!("sqlite: unknown event type {name:?}")))
}

/// An events row (`id, type, user_id, at, ip_address, data`).
fn event_of(r: &SqliteRow) -> StoreResult<Event> {
    Ok(Event {
        id: r.try_get("id").map_err(row_error)?,
        event_type: event_type(&r.try_get::<String, _>("type").map_err(row_error)?)?,
        user_id: r.try_get("user_id").map_err(row_error)?,
        at: r.try_get("at").map_err(row_error)?,
        ip_address: r.try_get("ip_address").map_err(row_error)?,
        data: r.try_get("data").map_err(row_error)?,
    })
}

#[async_trait::async_trait]
impl Events for SqliteStore {
    async fn append(&self, e: NewEvent) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO events (type, user_id, at, ip_address, data) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(e.event_type.as_str())
        .bind(&e.user_id)
        .bind(e.at)
        .bind(&e.ip_address)
        .bind(&e.data)
        .fetch_one(&mut *tx)
        .await
        .map_err(error)?;
        if self.webhooks.load(Ordering::Relaxed) {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO outbox (kind, event_id, order_key, recipient, subject, text_body, html_body, created_at, \
                 next_attempt_at) VALUES ('webhook', ?1, ?2, '', '', '', '', ?3, ?4)",
            )
            .bind(id)
            .bind(&e.user_id)
            .bind(now)
            .bind(now + HOLD_MS as i64)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        }
        tx.commit().await.map_err(error)?;
        Ok(id)
    }

    async fn withdraw(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM events WHERE id = ?1").bind(id).execute(&self.pool).await.map_err(error)?;
        Ok(())
    }

    async fn list_events(&self, filter: EventFilter, limit: u32, after: Cursor) -> StoreResult<EventPage> {
        let limit = limit.max(1) as usize;
        let before = after.and_then(|c| c.parse::<i64>().ok()).filter(|n| *n > 0).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT id, type, user_id, at, ip_address, data FROM events \
             WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR type = ?2) AND id < ?3 ORDER BY id DESC LIMIT ?4",
        )
        .bind(&filter.user_id)
        .bind(filter.event_type.map(|t| t.as_str()))
        .bind(before)
        .bind(limit as i64 + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        let mut events = rows.iter().map(event_of).collect::<StoreResult<Vec<Event>>>()?;
        let next = (events.len() > limit).then(|| events[limit - 1].id.to_string());
        events.truncate(limit);
        Ok(EventPage { events, next })
    }
}

#[async_trait::async_trait]
impl SessionStore for SqliteStore {
    /// The profile is not kept: session checks read it from the users table beside them.
    async fn create_session(
        &self,
        s: Session,
        _user: UserProfile,
        max_sessions: u32,
        credential_version: u64,
    ) -> StoreResult<SessionCreated> {
        let json = record::encode(&s);
        let now = now_ms();
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let known: Option<i64> = sqlx::query_scalar("SELECT version FROM session_credentials WHERE user_id = ?1")
            .bind(&s.user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?;
        // Users and sessions share the file: a sign-in that outlived its account's erasure finds
        // no account (so erasure need keep no credential version behind).
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1")
            .bind(&s.user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?;
        if exists.is_none() || known.is_some_and(|v| v > credential_version as i64) {
            return Ok(SessionCreated::Stale);
        }
        if s.expires_at <= now {
            return Ok(SessionCreated::Created(Vec::new()));
        }
        sqlx::query(
            "INSERT OR REPLACE INTO sessions (token_hash, id, user_id, data, last_activity, expires_at, keep_until) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )
        .bind(&s.token_hash)
        .bind(&s.id)
        .bind(&s.user_id)
        .bind(&json)
        .bind(s.last_activity)
        .bind(s.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(error)?;
        let mut evicted = Vec::new();
        if max_sessions > 0 {
            let excess: Vec<(String, String)> = sqlx::query_as(
                "SELECT token_hash, id FROM sessions \
                 WHERE user_id = ?1 AND token_hash != ?2 AND keep_until > ?3 AND expires_at > ?3 \
                 ORDER BY last_activity DESC LIMIT -1 OFFSET ?4",
            )
            .bind(&s.user_id)
            .bind(&s.token_hash)
            .bind(now)
            .bind(max_sessions.saturating_sub(1) as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(error)?;
            for (hash, id) in excess {
                sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
                evicted.push(id);
            }
        }
        tx.commit().await.map_err(error)?;
        Ok(SessionCreated::Created(evicted))
    }

    async fn get_session(&self, token_hash: TokenHash) -> StoreResult<Option<SessionLookup>> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT s.data, s.last_activity, u.id, u.email, u.username, u.full_name, u.created_at, u.last_login, \
             u.email_verified_at IS NOT NULL AS email_verified, u.totp_enabled \
             FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ?1 AND s.keep_until > ?2 AND s.expires_at > ?2",
        )
        .bind(token_hash.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        let Some(row) = row else { return Ok(None) };
        let user = match row.try_get::<Option<String>, _>("id").map_err(row_error)? {
            Some(id) => Some(UserProfile {
                id,
                email: row.try_get("email").map_err(row_error)?,
                username: row.try_get("username").map_err(row_error)?,
                full_name: row.try_get("full_name").map_err(row_error)?,
                created_at: row.try_get("created_at").map_err(row_error)?,
                last_login: row.try_get("last_login").map_err(row_error)?,
                email_verified: row.try_get("email_verified").map_err(row_error)?,
                mfa_enabled: row.try_get::<Option<i64>, _>("totp_enabled").map_err(row_error)?.unwrap_or(0) != 0,
            }),
            None => None,
        };
        Ok(Some(SessionLookup { session: session(&row)?, user }))
    }

    /// Nothing to keep: profiles are read from the users table.
    async fn put_user_profile(&self, _user: UserProfile) -> StoreResult<()> {
        Ok(())
    }

    async fn touch_session(&self, token_hash: TokenHash, at: i64, keep_until: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET last_activity = ?2, keep_until = min(?3, expires_at) \
             WHERE token_hash = ?1 AND keep_until > ?4 AND expires_at > ?4",
        )
        .bind(token_hash.as_str())
        .bind(at)
        .bind(keep_until)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(done.rows_affected() == 1 && keep_until > now_ms())
    }

    async fn delete_session(&self, user_id: UserId, token_hash: TokenHash) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = ?1 AND user_id = ?2 AND keep_until > ?3")
            .bind(token_hash.as_str())
            .bind(user_id.as_str())
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn erase_user(&self, user_id: UserId) -> StoreResult<u32> {
        // The profile is the users table's row. The credential version may go too: a session is
        // only created for an account that exists (`create_session`).
        sqlx::query("DELETE FROM session_credentials WHERE user_id = ?1")
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(error)?;
        SessionStore::delete_user_sessions(self, user_id).await
    }

    async fn delete_user_sessions(&self, user_id: UserId) -> StoreResult<u32> {
        let ended: Vec<bool> = sqlx::query_scalar(
            "DELETE FROM sessions WHERE user_id = ?1 RETURNING (keep_until > ?2 AND expires_at > ?2) AS live",
        )
        .bind(user_id.as_str())
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        Ok(ended.into_iter().filter(|live| *live).count() as u32)
    }

    async fn delete_other_sessions(&self, user_id: UserId, keep_token_hash: TokenHash) -> StoreResult<u32> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2 AND keep_until > ?3 AND expires_at > ?3",
        )
        .bind(user_id.as_str())
        .bind(keep_token_hash.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(done.rows_affected() as u32)
    }

    async fn list_sessions(&self, user_id: UserId) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query(
            "SELECT data, last_activity FROM sessions WHERE user_id = ?1 AND keep_until > ?2 AND expires_at > ?2",
        )
        .bind(user_id.as_str())
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        rows.iter().map(session).collect()
    }

    async fn set_credential_version(&self, user_id: UserId, version: u64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO session_credentials (user_id, version) VALUES (?1, ?2) \
             ON CONFLICT (user_id) DO UPDATE SET version = max(version, excluded.version)",
        )
        .bind(user_id.as_str())
        .bind(version.min(i64::MAX as u64) as i64)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(())
    }

    async fn begin_attempt(&self, key: String, limit: u32, _window_ms: u64) -> StoreResult<AttemptGate> {
        let now = now_ms();
        let mut conn = self.pool.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let row: Option<(i64, i64, i64, i64)> =
            sqlx::query_as("SELECT failures, in_flight, window_end, refused FROM login_counters WHERE key = ?1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(error)?;
        let (failures, in_flight, window_end, refused) = row.unwrap_or_default();
        let failures = if window_end > now { failures } else { 0 };
        let limit = i64::from(limit);
        let gate = if failures >= limit {
            sqlx::query("UPDATE login_counters SET refused = refused + 1 WHERE key = ?1")
                .bind(&key)
                .execute(&mut *tx)
                .await
                .map_err(error)?;
            AttemptGate::Locked(Lock { retry_after_ms: (window_end - now).max(0) as u64, first: refused == 0 })
        } else if failures + in_flight >= limit {
            AttemptGate::Busy
        } else {
            sqlx::query(
                "INSERT INTO login_counters (key, in_flight, keep_until) VALUES (?1, 1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET in_flight = in_flight + 1, keep_until = max(keep_until, ?2)",
            )
            .bind(&key)
            .bind(now + ATTEMPT_LEASE_MS)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
            AttemptGate::Admitted
        };
        tx.commit().await.map_err(error)?;
        Ok(gate)
    }

    async fn end_attempt(&self, key: String, failed: bool, window_ms: u64) -> StoreResult<()> {
        // Every expression on the right reads the row as it was: a failure outside a live
        // window opens a new one.
        sqlx::query(
            "INSERT INTO login_counters (key, failures, in_flight, window_end, keep_until) \
             VALUES (?1, ?2, 0, CASE WHEN ?2 = 1 THEN ?3 + ?4 ELSE 0 END, ?3 + max(?4 * ?2, ?5)) \
             ON CONFLICT (key) DO UPDATE SET \
               in_flight = max(in_flight - 1, 0), \
               failures = CASE WHEN ?2 = 0 THEN failures WHEN window_end > ?3 THEN failures + 1 ELSE 1 END, \
               refused = CASE WHEN ?2 = 1 AND window_end <= ?3 THEN 0 ELSE refused END, \
               window_end = CASE WHEN ?2 = 1 AND window_end <= ?3 THEN ?3 + ?4 ELSE window_end END, \
               keep_until = max(keep_until, ?3 + ?5, CASE WHEN ?2 = 1 AND window_end <= ?3 THEN ?3 + ?4 ELSE window_end END)",
        )
        .bind(&key)
        .bind(i64::from(failed))
        .bind(now_ms())
        .bind(window_ms.max(1).min(i64::MAX as u64) as i64)
        .bind(ATTEMPT_LEASE_MS)
        .execute(&self.pool)
        .await
        .map_err(error)?;
        Ok(())
    }

    async fn forget_attempts(&self, key: String) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_counters WHERE key = ?1").bind(&key).execute(&self.pool).await.map_err(error)?;
        Ok(())
    }

    async fn reset_attempts(&self, key: String) -> StoreResult<()> {
        sqlx::query("UPDATE login_counters SET failures = 0, window_end = 0, refused = 0 WHERE key = ?1")
            .bind(&key)
            .execute(&self.pool)
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        UserStore::ping(self).await
    }
}

fn row_error(e: sqlx::Error) -> StoreError {
    StoreError::Internal(format!("sqlite row: {e}"))
}

fn user(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id").map_err(row_error)?,
        email: row.try_get("email").map_err(row_error)?,
        username: row.try_get("username").map_err(row_error)?,
        full_name: row.try_get("full_name").map_err(row_error)?,
        password_hash: row.try_get("password_hash").map_err(row_error)?,
        created_at: row.try_get("created_at").map_err(row_error)?,
        last_login: row.try_get("last_login").map_err(row_error)?,
        credential_version: row.try_get::<i64, _>("credential_version").map_err(row_error)?.max(0) as u64,
        email_verified: row.try_get::<Option<i64>, _>("email_verified_at").map_err(row_error)?.is_some(),
        totp_secret: row.try_get("totp_secret").map_err(row_error)?,
        totp_enabled: row.try_get::<i64, _>("totp_enabled").map_err(row_error)? != 0,
        devices_issued: row.try_get::<i64, _>("devices_issued").map_err(row_error)?.max(0) as u64,
        disabled: row.try_get::<i64, _>("disabled").map_err(row_error)? != 0,
    })
}

fn session(row: &SqliteRow) -> StoreResult<Session> {
    let data: String = row.try_get("data").map_err(row_error)?;
    record::decode(&data, Some(row.try_get("last_activity").map_err(row_error)?))
}

fn outcome(name: String) -> StoreResult<LoginOutcome> {
    LoginOutcome::parse(&name).ok_or_else(|| StoreError::Internal(format!("sqlite: unknown login outcome {name:?}")))
}

/// Unique violations name the index (`users_email_key`, `users_username_key`) in the message.
fn error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            let field = if message.contains("users_email_key") || message.contains("email") {
                "email"
            } else if message.contains("users_username_key") || message.contains("username") {
                "username"
            } else {
                "unknown"
            };
            StoreError::Conflict(field.into())
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(format!("sqlite: {e}"))
        }
        sqlx::Error::Database(db) if db.message().contains("database is locked") => {
            StoreError::Unavailable(format!("sqlite: {e}"))
        }
        _ => StoreError::Internal(format!("sqlite: {e}")),
    }
}
