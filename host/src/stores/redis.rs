//! The session store on Redis. Layout and scripts: `asm_store_queries::redis`.

use super::{Attempts, Session, SessionStore, StoreError, StoreResult, now_ms};
use asm_store_queries::redis as q;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisSessions {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(q::CREATE_SESSION));
static TOUCH: LazyLock<Script> = LazyLock::new(|| Script::new(q::TOUCH_SESSION));
static DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(q::DELETE_SESSION));
static DELETE_OTHERS: LazyLock<Script> = LazyLock::new(|| Script::new(q::DELETE_OTHER_SESSIONS));
static LIST: LazyLock<Script> = LazyLock::new(|| Script::new(q::LIST_SESSIONS));
static COUNT: LazyLock<Script> = LazyLock::new(|| Script::new(q::COUNT_ATTEMPT));
static UNCOUNT: LazyLock<Script> = LazyLock::new(|| Script::new(q::UNCOUNT_ATTEMPT));

impl RedisSessions {
    /// Connects lazily: the host starts while Redis is down and reconnects by itself.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisSessions { conn, prefix: prefix.to_string(), timeout })
    }

    fn session_prefix(&self) -> String {
        q::session_prefix(&self.prefix)
    }

    fn session_key(&self, token_hash: &str) -> String {
        q::session_key(&self.prefix, token_hash)
    }

    fn index_key(&self, user_id: &str) -> String {
        q::index_key(&self.prefix, user_id)
    }

    fn attempts_key(&self, key: &str) -> String {
        q::attempts_key(&self.prefix, key)
    }

    /// Runs one Redis exchange under the store timeout, mapping failures to store errors.
    async fn run<T>(&self, op: impl Future<Output = redis::RedisResult<T>>) -> StoreResult<T> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(error(e)),
            Err(_) => Err(StoreError::Unavailable("redis: timed out".into())),
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisSessions {
    async fn create_session(&self, s: Session, max_sessions: u32) -> StoreResult<Vec<String>> {
        let now = now_ms();
        let ttl = s.expires_at - now;
        if ttl <= 0 {
            return Ok(Vec::new());
        }
        let json = serde_json::to_string(&s).map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut conn = self.conn.clone();
        let mut call = CREATE.key(self.session_key(&s.token_hash));
        call.key(self.index_key(&s.user_id))
            .arg(json)
            .arg(ttl)
            .arg(&s.token_hash)
            .arg(s.expires_at)
            .arg(now)
            .arg(s.last_activity)
            .arg(max_sessions)
            .arg(self.session_prefix());
        let evicted: Vec<String> = self.run(call.invoke_async(&mut conn)).await?;
        evicted.iter().map(|raw| decode(raw, None).map(|s| s.id)).collect()
    }

    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let mut conn = self.conn.clone();
        let (data, la): (Option<String>, Option<i64>) = self
            .run(redis::cmd("HMGET").arg(self.session_key(token_hash)).arg(&q::SESSION_FIELDS).query_async(&mut conn))
            .await?;
        let Some(data) = data else { return Ok(None) };
        let s = decode(&data, la)?;
        Ok((s.expires_at > now_ms()).then_some(s))
    }

    async fn touch_session(&self, token_hash: &str, at: i64, keep_until: i64) -> StoreResult<bool> {
        let ttl = keep_until - now_ms();
        let mut conn = self.conn.clone();
        if ttl <= 0 {
            self.run(conn.del::<_, i64>(self.session_key(token_hash))).await?;
            return Ok(false);
        }
        let mut call = TOUCH.key(self.session_key(token_hash));
        call.arg(at).arg(ttl);
        self.run(call.invoke_async::<i64>(&mut conn)).await.map(|n| n == 1)
    }

    async fn delete_session(&self, user_id: &str, token_hash: &str) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let mut call = DELETE.key(self.session_key(token_hash));
        call.key(self.index_key(user_id)).arg(token_hash);
        self.run(call.invoke_async::<i64>(&mut conn)).await.map(|n| n > 0)
    }

    async fn delete_other_sessions(&self, user_id: &str, keep_token_hash: &str) -> StoreResult<u32> {
        let mut conn = self.conn.clone();
        let mut call = DELETE_OTHERS.key(self.index_key(user_id));
        call.arg(keep_token_hash).arg(self.session_prefix());
        self.run(call.invoke_async::<u32>(&mut conn)).await
    }

    async fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let mut conn = self.conn.clone();
        let mut call = LIST.key(self.index_key(user_id));
        call.arg(self.session_prefix()).arg(now_ms());
        let raw: Vec<Option<String>> = self.run(call.invoke_async(&mut conn)).await?;
        raw.chunks(2)
            .filter_map(|pair| Some((pair[0].as_deref()?, pair.get(1).cloned().flatten())))
            .map(|(data, la)| decode(data, la.and_then(|l| l.parse().ok())))
            .collect()
    }

    async fn count_attempt(&self, key: &str, window_ms: u64) -> StoreResult<Attempts> {
        let mut conn = self.conn.clone();
        let mut call = COUNT.key(self.attempts_key(key));
        call.arg(window_ms.max(1));
        let (n, ttl): (u64, i64) = self.run(call.invoke_async(&mut conn)).await?;
        Ok(Attempts { count: n.min(u32::MAX as u64) as u32, retry_after_ms: ttl.max(0) as u64 })
    }

    async fn uncount_attempt(&self, key: &str) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        self.run(UNCOUNT.key(self.attempts_key(key)).invoke_async::<i64>(&mut conn)).await.map(drop)
    }

    async fn reset_attempts(&self, key: &str) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        self.run(conn.del::<_, i64>(self.attempts_key(key))).await.map(drop)
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        self.run(redis::cmd("PING").query_async::<String>(&mut conn)).await.map(drop)
    }
}

/// A stored session, with its separately kept last activity when there is one.
fn decode(data: &str, last_activity: Option<i64>) -> StoreResult<Session> {
    let mut s: Session = serde_json::from_str(data).map_err(|e| StoreError::Internal(format!("session json: {e}")))?;
    if let Some(la) = last_activity {
        s.last_activity = la;
    }
    Ok(s)
}

fn error(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        StoreError::Unavailable(format!("redis: {e}"))
    } else {
        StoreError::Internal(format!("redis: {e}"))
    }
}
