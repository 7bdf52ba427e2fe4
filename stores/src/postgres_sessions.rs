//! The session store on PostgreSQL, for deployments without Redis: sessions, credential
//! versions and login-attempt counters in the tables and functions of
//! `migrations/20240101000004_sessions.up.sql`, over the same [`Driver`] as the user store (sqlx
//! on the native host, `spin:postgres` on Spin).
//!
//! Every operation is one statement. Those that read and then write (create a session, begin
//! and end a login attempt) are PL/pgSQL functions that lock the row they decide on, so
//! concurrent calls serialise per user or per counter as Redis scripts do. A session check
//! reads the user's profile from the `users` table in the same statement, so it is always
//! current and `put-user-profile` has nothing to do. Expired rows are ignored by every read and
//! deleted by [`PostgresSessions::sweep`], which the native host runs every minute; on hosts
//! without a timer a session creation sweeps now and then.

use crate::postgres::{Driver, Param, Rows, Value};
use crate::{ATTEMPT_LEASE_MS, CREDENTIAL_MEMORY_MS, now_ms, record};
use asm_contract::*;

/// The profile's columns from `users u` (nulls when the user is not there).
macro_rules! profile_columns {
    () => {
        "u.id::text AS uid, u.email, u.username, u.full_name, \
         (extract(epoch FROM u.created_at) * 1000)::int8 AS user_created_at, \
         (extract(epoch FROM u.last_login) * 1000)::int8 AS last_login, \
         (CASE WHEN u.email_verified_at IS NULL THEN 0 ELSE 1 END)::int8 AS email_verified, \
         (CASE WHEN u.totp_enabled THEN 1 ELSE 0 END)::int8 AS mfa_enabled"
    };
}

/// `users.id` is a uuid and `sessions.user_id` text: the join casts only what is a uuid, so any
/// user id is safe and a real one still finds its row by the primary key.
macro_rules! join_users {
    () => {
        " LEFT JOIN users u ON u.id = CASE WHEN s.user_id ~ \
         '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' \
         THEN s.user_id::uuid END"
    };
}

/// `$1` token hash, `$2` public id, `$3` user id, `$4` session json, `$5` last activity,
/// `$6` expires at, `$7` now, `$8` max sessions (0: no cap), `$9` credential version.
pub const CREATE_SESSION: &str =
    "SELECT o_created, o_evicted FROM asm_create_session($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// `$1` token hash, `$2` now. One row, of nulls when there is no live session.
pub const GET_SESSION: &str = concat!(
    "SELECT s.id, s.data, s.last_activity, ",
    profile_columns!(),
    " FROM (SELECT 1) AS one LEFT JOIN sessions s ON s.token_hash = $1 AND s.keep_until > $2 AND s.expires_at > $2",
    join_users!()
);
/// `$1` token hash, `$2` last activity, `$3` keep until, `$4` now. How many rows changed.
pub const TOUCH_SESSION: &str = "WITH t AS (UPDATE sessions SET last_activity = $2, keep_until = least($3, expires_at) \
    WHERE token_hash = $1 AND keep_until > $4 AND expires_at > $4 RETURNING 1) SELECT count(*) AS touched FROM t";
/// `$1` token hash: a session whose idle time ran out.
pub const END_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";
/// `$1` token hash, `$2` user id, `$3` now. How many live sessions ended (expired rows go too).
pub const DELETE_SESSION: &str = "WITH d AS (DELETE FROM sessions WHERE token_hash = $1 AND user_id = $2 \
    RETURNING keep_until, expires_at) SELECT count(*) FILTER (WHERE keep_until > $3 AND expires_at > $3) AS ended FROM d";
/// `$1` user id, `$2` token hash to keep, `$3` now. How many live sessions ended.
pub const DELETE_OTHER_SESSIONS: &str = "WITH d AS (DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2 \
    RETURNING keep_until, expires_at) SELECT count(*) FILTER (WHERE keep_until > $3 AND expires_at > $3) AS ended FROM d";
/// `$1` user id, `$2` now. Ends every session of the user; how many were live.
pub const DELETE_USER_SESSIONS: &str = "WITH d AS (DELETE FROM sessions WHERE user_id = $1 \
    RETURNING keep_until, expires_at) SELECT count(*) FILTER (WHERE keep_until > $2 AND expires_at > $2) AS ended FROM d";
/// `$1` user id, `$2` now. Erases every session of the user (the profile is the user store's
/// row; the credential version stays until swept); how many were live.
pub const ERASE_USER: &str = DELETE_USER_SESSIONS;
/// `$1` key. Forgets the counter.
pub const FORGET_ATTEMPTS: &str = "DELETE FROM login_counters WHERE key = $1";
/// `$1` user id, `$2` now. The live sessions; one row of nulls when there are none.
pub const LIST_SESSIONS: &str = "SELECT s.id, s.data, s.last_activity FROM (SELECT 1) AS one \
    LEFT JOIN sessions s ON s.user_id = $1 AND s.keep_until > $2 AND s.expires_at > $2";
/// `$1` user id, `$2` version, `$3` kept until. Raises the version, never lowers it.
pub const SET_CREDENTIAL_VERSION: &str = "INSERT INTO session_credentials AS c (user_id, version, kept_until) \
    VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE \
    SET version = greatest(c.version, excluded.version), kept_until = greatest(c.kept_until, excluded.kept_until)";
/// `$1` key, `$2` limit, `$3` now, `$4` lease.
pub const BEGIN_ATTEMPT: &str = "SELECT o_gate, o_retry_after, o_refused FROM asm_begin_attempt($1, $2, $3, $4)";
/// `$1` key, `$2` failed (1 or 0), `$3` window ms, `$4` now, `$5` lease.
pub const END_ATTEMPT: &str = "SELECT asm_end_attempt($1, $2, $3, $4, $5) AS done";
/// `$1` key.
pub const RESET_ATTEMPTS: &str = "UPDATE login_counters SET failures = 0, window_end = 0, refused = 0 WHERE key = $1";
/// `$1` now. Deletes up to 1,000 ended sessions, and the counters and credential rows nobody
/// needs any more; how many sessions went.
pub const SWEEP: &str = "WITH gone AS (DELETE FROM sessions WHERE token_hash IN \
      (SELECT token_hash FROM sessions WHERE keep_until <= $1 LIMIT 1000) RETURNING 1), \
    counters AS (DELETE FROM login_counters WHERE key IN \
      (SELECT key FROM login_counters WHERE kept_until <= $1 LIMIT 1000) RETURNING 1), \
    credentials AS (DELETE FROM session_credentials c WHERE c.user_id IN \
      (SELECT user_id FROM session_credentials WHERE kept_until <= $1 LIMIT 1000) \
      AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = c.user_id AND s.keep_until > $1) RETURNING 1) \
    SELECT (SELECT count(*) FROM gone) AS sessions, (SELECT count(*) FROM counters) AS counters, \
      (SELECT count(*) FROM credentials) AS credentials";

/// One in this many session creations also sweeps, when no timer does.
const SWEEP_EVERY: i64 = 64;

/// The session store on a PostgreSQL client.
pub struct PostgresSessions<D> {
    driver: D,
    /// Whether session creations sweep now and then (hosts without a timer).
    sweep_on_create: bool,
}

impl<D: Driver> PostgresSessions<D> {
    /// `sweep_on_create`: false when the host calls [`Self::sweep`] on a timer.
    pub fn new(driver: D, sweep_on_create: bool) -> Self {
        PostgresSessions { driver, sweep_on_create }
    }

    /// Deletes ended sessions (up to 1,000 a call) and unneeded counter and credential rows;
    /// returns how many sessions went.
    pub async fn sweep(&self) -> StoreResult<u64> {
        let rows = self.driver.query(SWEEP, vec![Param::Int(now_ms())]).await?;
        Ok(rows.first(|rows, row| rows.int(row, "sessions"))?.unwrap_or(0).max(0) as u64)
    }
}

#[async_trait::async_trait]
impl<D: Driver> SessionStore for PostgresSessions<D> {
    /// The profile is not kept: session checks read it from `users`.
    async fn create_session(
        &self,
        s: Session,
        _user: UserProfile,
        max_sessions: u32,
        credential_version: u64,
    ) -> StoreResult<SessionCreated> {
        let now = now_ms();
        let params = vec![
            Param::Text(s.token_hash.clone()),
            Param::Text(s.id.clone()),
            Param::Text(s.user_id.clone()),
            Param::Text(record::encode(&s)),
            Param::Int(s.last_activity),
            Param::Int(s.expires_at),
            Param::Int(now),
            Param::Int(max_sessions.into()),
            Param::Int(credential_version.min(i64::MAX as u64) as i64),
        ];
        let rows = self.driver.query(CREATE_SESSION, params).await?;
        let created = rows
            .first(|rows, row| Ok((rows.int(row, "o_created")?, rows.opt_text(row, "o_evicted")?)))?
            .ok_or_else(|| internal("create-session returned no row".into()))?;
        if self.sweep_on_create && now % SWEEP_EVERY == 0 {
            // Best effort: a failed sweep is retried by a later creation.
            let _ = self.sweep().await;
        }
        match created {
            (0, _) => Ok(SessionCreated::Stale),
            (_, evicted) => {
                let ids: Vec<String> = serde_json::from_str(evicted.as_deref().unwrap_or("[]"))
                    .map_err(|e| internal(format!("evicted ids are not a JSON list: {e}")))?;
                Ok(SessionCreated::Created(ids))
            }
        }
    }

    async fn get_session(&self, token_hash: TokenHash) -> StoreResult<Option<SessionLookup>> {
        let params = vec![Param::Text(token_hash.into_string()), Param::Int(now_ms())];
        let rows = self.driver.query(GET_SESSION, params).await?;
        rows.first_present(|rows, row| {
            let session = session(rows, row)?;
            let user = match rows.opt_text(row, "uid")? {
                Some(id) => Some(UserProfile {
                    id,
                    email: rows.text(row, "email")?,
                    username: rows.text(row, "username")?,
                    full_name: rows.text(row, "full_name")?,
                    created_at: rows.int(row, "user_created_at")?,
                    last_login: rows.opt_int(row, "last_login")?,
                    email_verified: rows.int(row, "email_verified")? != 0,
                    mfa_enabled: rows.int(row, "mfa_enabled")? != 0,
                }),
                None => None,
            };
            Ok(SessionLookup { session, user })
        })
    }

    async fn put_user_profile(&self, _user: UserProfile) -> StoreResult<()> {
        Ok(())
    }

    async fn touch_session(&self, token_hash: TokenHash, at: i64, keep_until: i64) -> StoreResult<bool> {
        let now = now_ms();
        if keep_until <= now {
            self.driver.execute(END_SESSION, vec![Param::Text(token_hash.into_string())]).await?;
            return Ok(false);
        }
        let params =
            vec![Param::Text(token_hash.into_string()), Param::Int(at), Param::Int(keep_until), Param::Int(now)];
        let rows = self.driver.query(TOUCH_SESSION, params).await?;
        Ok(rows.first(|rows, row| rows.int(row, "touched"))? == Some(1))
    }

    async fn delete_session(&self, user_id: UserId, token_hash: TokenHash) -> StoreResult<bool> {
        let params =
            vec![Param::Text(token_hash.into_string()), Param::Text(user_id.into_string()), Param::Int(now_ms())];
        let rows = self.driver.query(DELETE_SESSION, params).await?;
        Ok(rows.first(|rows, row| rows.int(row, "ended"))?.unwrap_or(0) > 0)
    }

    async fn delete_other_sessions(&self, user_id: UserId, keep_token_hash: TokenHash) -> StoreResult<u32> {
        let params =
            vec![Param::Text(user_id.into_string()), Param::Text(keep_token_hash.into_string()), Param::Int(now_ms())];
        let rows = self.driver.query(DELETE_OTHER_SESSIONS, params).await?;
        let n = rows.first(|rows, row| rows.int(row, "ended"))?.unwrap_or(0);
        u32::try_from(n).map_err(|_| internal(format!("{n} is not a count")))
    }

    async fn delete_user_sessions(&self, user_id: UserId) -> StoreResult<u32> {
        let rows = self
            .driver
            .query(DELETE_USER_SESSIONS, vec![Param::Text(user_id.into_string()), Param::Int(now_ms())])
            .await?;
        let n = rows.first(|rows, row| rows.int(row, "ended"))?.unwrap_or(0);
        u32::try_from(n).map_err(|_| internal(format!("{n} is not a count")))
    }

    async fn erase_user(&self, user_id: UserId) -> StoreResult<u32> {
        let rows =
            self.driver.query(ERASE_USER, vec![Param::Text(user_id.into_string()), Param::Int(now_ms())]).await?;
        let n = rows.first(|rows, row| rows.int(row, "ended"))?.unwrap_or(0);
        u32::try_from(n).map_err(|_| internal(format!("{n} is not a count")))
    }

    async fn list_sessions(&self, user_id: UserId) -> StoreResult<Vec<Session>> {
        let rows =
            self.driver.query(LIST_SESSIONS, vec![Param::Text(user_id.into_string()), Param::Int(now_ms())]).await?;
        rows.rows.iter().filter(|row| rows.present(row)).map(|row| session(&rows, row)).collect()
    }

    async fn set_credential_version(&self, user_id: UserId, version: u64) -> StoreResult<()> {
        let params = vec![
            Param::Text(user_id.into_string()),
            Param::Int(version.min(i64::MAX as u64) as i64),
            Param::Int(now_ms() + CREDENTIAL_MEMORY_MS),
        ];
        self.driver.execute(SET_CREDENTIAL_VERSION, params).await
    }

    async fn begin_attempt(&self, key: String, limit: u32, _window_ms: u64) -> StoreResult<AttemptGate> {
        let params =
            vec![Param::Text(key), Param::Int(limit.into()), Param::Int(now_ms()), Param::Int(ATTEMPT_LEASE_MS)];
        let rows = self.driver.query(BEGIN_ATTEMPT, params).await?;
        let gate = rows.first(|rows, row| {
            Ok((rows.int(row, "o_gate")?, rows.int(row, "o_retry_after")?, rows.int(row, "o_refused")?))
        })?;
        match gate {
            Some((0, _, _)) => Ok(AttemptGate::Admitted),
            Some((1, _, _)) => Ok(AttemptGate::Busy),
            Some((2, left, refused)) => {
                Ok(AttemptGate::Locked(Lock { retry_after_ms: left.max(0) as u64, first: refused == 1 }))
            }
            other => Err(internal(format!("unexpected begin-attempt answer {other:?}"))),
        }
    }

    async fn end_attempt(&self, key: String, failed: bool, window_ms: u64) -> StoreResult<()> {
        let params = vec![
            Param::Text(key),
            Param::Int(failed.into()),
            Param::Int(window_ms.clamp(1, i64::MAX as u64 / 2) as i64),
            Param::Int(now_ms()),
            Param::Int(ATTEMPT_LEASE_MS),
        ];
        self.driver.query(END_ATTEMPT, params).await.map(drop)
    }

    async fn reset_attempts(&self, key: String) -> StoreResult<()> {
        self.driver.execute(RESET_ATTEMPTS, vec![Param::Text(key)]).await
    }

    async fn forget_attempts(&self, key: String) -> StoreResult<()> {
        self.driver.execute(FORGET_ATTEMPTS, vec![Param::Text(key)]).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.driver.query(crate::postgres::PING, vec![]).await.map(drop)
    }
}

fn session(rows: &Rows, row: &[Value]) -> StoreResult<Session> {
    record::decode(&rows.text(row, "data")?, Some(rows.int(row, "last_activity")?))
}

fn internal(detail: String) -> StoreError {
    StoreError::Internal(format!("postgres sessions: {detail}"))
}
