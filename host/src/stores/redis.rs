//! The session store on Redis.
//!
//! Keys, under a configurable prefix `P`:
//! - `P session:<token-hash>`: a hash with `data` (the session as JSON) and `la` (its last
//!   activity, Unix ms, kept apart so a touch rewrites one field), expiring with the session;
//! - `P user-sessions:<user-id>`: a sorted set of the user's token hashes scored by expiry,
//!   pruned of expired entries whenever it changes or is read;
//! - `P attempts:<key>`: a login-attempt counter that expires with its window.
//!
//! Every operation that reads and writes, or touches more than one key, is one Lua script, so
//! no reader ever sees a session without its index entry or the reverse. (The scripts name
//! session keys they derive from the index, so on Redis Cluster a user's sessions and index
//! would need a shared hash tag; that layout is not implemented yet.)

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
        -- KEYS[1] session, KEYS[2] index
        -- ARGV: json, ttl ms, token hash, expires at, now, last activity, max sessions, session key prefix
        redis.call('HSET', KEYS[1], 'data', ARGV[1], 'la', ARGV[6])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
        local evicted = {}
        local max = tonumber(ARGV[7])
        if max > 0 then
          local live = {}
          for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
            local la = redis.call('HGET', ARGV[8] .. h, 'la')
            if la then table.insert(live, {h, tonumber(la)}) else redis.call('ZREM', KEYS[2], h) end
          end
          if #live > max then
            table.sort(live, function(a, b) return a[2] < b[2] end)
            local n = #live - max
            for _, entry in ipairs(live) do
              if n == 0 then break end
              if entry[1] ~= ARGV[3] then
                table.insert(evicted, redis.call('HGET', ARGV[8] .. entry[1], 'data'))
                redis.call('DEL', ARGV[8] .. entry[1])
                redis.call('ZREM', KEYS[2], entry[1])
                n = n - 1
              end
            end
          end
        end
        local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
        if last[2] then redis.call('PEXPIREAT', KEYS[2], last[2]) end
        return evicted
        ",
    )
});

static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        -- KEYS[1] session; ARGV: last activity, ttl ms
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'la', ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
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

static DELETE_OTHERS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        -- KEYS[1] index; ARGV: token hash to keep ('' keeps none), session key prefix
        local n = 0
        for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
          if h ~= ARGV[1] then
            n = n + redis.call('DEL', ARGV[2] .. h)
            redis.call('ZREM', KEYS[1], h)
          end
        end
        return n
        ",
    )
});

static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        -- KEYS[1] index; ARGV: session key prefix, now. Returns data, la, data, la, ...
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
        local out = {}
        for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
          local v = redis.call('HMGET', ARGV[1] .. h, 'data', 'la')
          if v[1] then
            table.insert(out, v[1]); table.insert(out, v[2])
          else
            redis.call('ZREM', KEYS[1], h)
          end
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

static UNCOUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        -- KEYS[1] counter
        local n = tonumber(redis.call('GET', KEYS[1]) or '0')
        if n > 0 then redis.call('DECR', KEYS[1]) end
        return 1
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

    fn session_prefix(&self) -> String {
        format!("{}session:", self.prefix)
    }

    fn session_key(&self, token_hash: &str) -> String {
        format!("{}session:{token_hash}", self.prefix)
    }

    fn index_key(&self, user_id: &str) -> String {
        format!("{}user-sessions:{user_id}", self.prefix)
    }

    fn attempts_key(&self, key: &str) -> String {
        format!("{}attempts:{key}", self.prefix)
    }

    /// Runs one Redis exchange under the store timeout, mapping failures to store errors.
    async fn run<T>(&self, op: impl Future<Output = redis::RedisResult<T>>) -> StoreResult<T> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(error(e)),
            Err(_) => Err(StoreError::Unavailable("redis: timed out".into())),
        }
    }

    pub async fn create_session(&self, s: Session, max_sessions: u32) -> StoreResult<Vec<String>> {
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

    pub async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let mut conn = self.conn.clone();
        let (data, la): (Option<String>, Option<i64>) =
            self.run(redis::cmd("HMGET").arg(self.session_key(token_hash)).arg("data").arg("la").query_async(&mut conn)).await?;
        let Some(data) = data else { return Ok(None) };
        let s = decode(&data, la)?;
        Ok((s.expires_at > now_ms()).then_some(s))
    }

    pub async fn touch_session(&self, token_hash: &str, at: i64, keep_until: i64) -> StoreResult<bool> {
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

    pub async fn delete_session(&self, user_id: &str, token_hash: &str) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let mut call = DELETE.key(self.session_key(token_hash));
        call.key(self.index_key(user_id)).arg(token_hash);
        self.run(call.invoke_async::<i64>(&mut conn)).await.map(|n| n > 0)
    }

    pub async fn delete_other_sessions(&self, user_id: &str, keep_token_hash: &str) -> StoreResult<u32> {
        let mut conn = self.conn.clone();
        let mut call = DELETE_OTHERS.key(self.index_key(user_id));
        call.arg(keep_token_hash).arg(self.session_prefix());
        self.run(call.invoke_async::<u32>(&mut conn)).await
    }

    pub async fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let mut conn = self.conn.clone();
        let mut call = LIST.key(self.index_key(user_id));
        call.arg(self.session_prefix()).arg(now_ms());
        let raw: Vec<Option<String>> = self.run(call.invoke_async(&mut conn)).await?;
        raw.chunks(2)
            .filter_map(|pair| Some((pair[0].as_deref()?, pair.get(1).cloned().flatten())))
            .map(|(data, la)| decode(data, la.and_then(|l| l.parse().ok())))
            .collect()
    }

    pub async fn count_attempt(&self, key: &str, window_ms: u64) -> StoreResult<(u32, u64)> {
        let mut conn = self.conn.clone();
        let mut call = COUNT.key(self.attempts_key(key));
        call.arg(window_ms.max(1));
        let (n, ttl): (u64, i64) = self.run(call.invoke_async(&mut conn)).await?;
        Ok((n.min(u32::MAX as u64) as u32, ttl.max(0) as u64))
    }

    pub async fn uncount_attempt(&self, key: &str) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        self.run(UNCOUNT.key(self.attempts_key(key)).invoke_async::<i64>(&mut conn)).await.map(drop)
    }

    pub async fn reset_attempts(&self, key: &str) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        self.run(conn.del::<_, i64>(self.attempts_key(key))).await.map(drop)
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        self.run(redis::cmd("PING").query_async::<String>(&mut conn)).await.map(drop)
    }
}

/// A stored session, with its separately kept last activity when there is one.
fn decode(data: &str, last_activity: Option<i64>) -> StoreResult<Session> {
    let mut s: Session =
        serde_json::from_str(data).map_err(|e| StoreError::Internal(format!("session json: {e}")))?;
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
