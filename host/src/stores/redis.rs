//! The session store on Redis.
//!
//! Keys, under a configurable prefix `P`:
//! - `P session:<token-hash>`: the session as JSON, expiring when the session does;
//! - `P user-sessions:<user-id>`: a sorted set of the user's token hashes scored by expiry,
//!   pruned of expired entries whenever it changes or is read;
//! - `P attempts:<key>`: a login-attempt counter that expires with its window.
//!
//! Every operation that touches more than one key runs as one Lua script, so no reader ever
//! sees a session without its index entry or the reverse.

use super::{Session, StoreError, StoreResult, now_ms};
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

static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        -- KEYS[1] session, KEYS[2] index; ARGV: json, ttl ms, token hash, expires at, now
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
        local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
        redis.call('PEXPIREAT', KEYS[2], last[2])
        return 1
        ",
    )
});

static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        -- KEYS[1] session, KEYS[2] index; ARGV[1] token hash
        local n = redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        return n
        ",
    )
});

static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        -- KEYS[1] index; ARGV[1] session key prefix, ARGV[2] now
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
        local hashes = redis.call('ZRANGE', KEYS[1], 0, -1)
        local out = {}
        for _, h in ipairs(hashes) do
          local v = redis.call('GET', ARGV[1] .. h)
          if v then table.insert(out, v) else redis.call('ZREM', KEYS[1], h) end
        end
        return out
        ",
    )
});

static COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        -- KEYS[1] counter; ARGV[1] window ms
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
        return {n, ttl}
        ",
    )
});

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

    fn session_key(&self, token_hash: &str) -> String {
        format!("{}session:{token_hash}", self.prefix)
    }

    fn index_key(&self, user_id: &str) -> String {
        format!("{}user-sessions:{user_id}", self.prefix)
    }

    /// Runs one Redis exchange under the store timeout, mapping failures to store errors.
    async fn run<T>(&self, op: impl Future<Output = redis::RedisResult<T>>) -> StoreResult<T> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(error(e)),
            Err(_) => Err(StoreError::Unavailable("redis: timed out".into())),
        }
    }

    pub async fn create_session(&self, s: Session) -> StoreResult<()> {
        let now = now_ms();
        let ttl = s.expires_at - now;
        if ttl <= 0 {
            return Ok(());
        }
        let json = serde_json::to_string(&s).map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut conn = self.conn.clone();
        let mut call = CREATE.key(self.session_key(&s.token_hash));
        call.key(self.index_key(&s.user_id)).arg(json).arg(ttl).arg(&s.token_hash).arg(s.expires_at).arg(now);
        self.run(call.invoke_async::<i64>(&mut conn)).await.map(drop)
    }

    pub async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let mut conn = self.conn.clone();
        let key = self.session_key(token_hash);
        let raw: Option<String> = self.run(conn.get(key)).await?;
        let Some(raw) = raw else { return Ok(None) };
        let s: Session = serde_json::from_str(&raw).map_err(|e| StoreError::Internal(format!("session json: {e}")))?;
        Ok((s.expires_at > now_ms()).then_some(s))
    }

    pub async fn delete_session(&self, user_id: &str, token_hash: &str) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let mut call = DELETE.key(self.session_key(token_hash));
        call.key(self.index_key(user_id)).arg(token_hash);
        self.run(call.invoke_async::<i64>(&mut conn)).await.map(|n| n > 0)
    }

    pub async fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let mut conn = self.conn.clone();
        let mut call = LIST.key(self.index_key(user_id));
        call.arg(format!("{}session:", self.prefix)).arg(now_ms());
        let raw: Vec<String> = self.run(call.invoke_async(&mut conn)).await?;
        raw.iter()
            .map(|r| serde_json::from_str(r).map_err(|e| StoreError::Internal(format!("session json: {e}"))))
            .collect()
    }

    pub async fn count_attempt(&self, key: &str, window_ms: u64) -> StoreResult<(u32, u64)> {
        let mut conn = self.conn.clone();
        let mut call = COUNT.key(format!("{}attempts:{key}", self.prefix));
        call.arg(window_ms.max(1));
        let (n, ttl): (u64, i64) = self.run(call.invoke_async(&mut conn)).await?;
        Ok((n.min(u32::MAX as u64) as u32, ttl.max(0) as u64))
    }

    pub async fn reset_attempts(&self, key: &str) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        self.run(conn.del::<_, i64>(format!("{}attempts:{key}", self.prefix))).await.map(drop)
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        self.run(redis::cmd("PING").query_async::<String>(&mut conn)).await.map(drop)
    }
}

fn error(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        StoreError::Unavailable(format!("redis: {e}"))
    } else {
        StoreError::Internal(format!("redis: {e}"))
    }
}
