//! The session store on Redis, over whichever client the host has: the native host drives it
//! with the redis crate, the Spin adapter with Spin's `fermyon:spin/redis`. Both run the same
//! scripts with the same keys and arguments, so they can share one Redis.
//!
//! Keys, under a configurable prefix `P`. Everything of one user is under `P{T}:`, where `T`
//! is the user's routing tag ([`asm_contract::route_tag`], also the first part of every one of
//! their token hashes), so on Redis Cluster all of a user's keys share a hash slot and every
//! script below touches one slot:
//! - `P{T}:session:<token-hash>`: a hash with `data` (the session, [`crate::record`]), `la` (its
//!   last activity, Unix ms, kept apart so a touch rewrites one field) and `uid` (its user),
//!   expiring with the session;
//! - `P{T}:user-sessions:<user-id>`: a sorted set of the user's token hashes scored by expiry,
//!   pruned of expired entries whenever it changes or is read;
//! - `P{T}:profile:<user-id>`: what a session check shows of the account, a hash of `p` (the
//!   profile without its last login, [`crate::record`]) and `ll` (the newest last login it was
//!   given), expiring with the user's last session;
//! - `P{T}:credentials:<user-id>`: the lowest credential version a new session of the user may
//!   have, kept for a day after it is set (far longer than any login takes);
//! - `P attempts:<key>`: a login-attempt counter, a hash of failures `f`, attempts in flight
//!   `i`, the end of the window of failures `w` and the attempts refused in it `r`, kept while
//!   its window lasts or an attempt may be in flight (one key per script: any slot).
//!
//! Every operation that reads and writes, or touches more than one key, is one script, so no
//! reader ever sees a session without its index entry or the reverse. Scripts return flat
//! arrays only, which every Redis client (Spin's too) passes through unchanged.
//!
//! Releases before the routing tag kept sessions under `P session:<hash>` (no tag); their
//! tokens are not accepted any more, so those sessions ended once at the upgrade, and their
//! keys expire by themselves.

use crate::{ATTEMPT_LEASE_MS, CREDENTIAL_MEMORY_MS, record};
use asm_contract::*;
use std::sync::OnceLock;

/// A command argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Int(i64),
    Text(String),
}

/// One element of a reply. Nested arrays arrive flattened into one list, as Spin returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Nil,
    Status(String),
    Int(i64),
    Bytes(Vec<u8>),
}

/// A Lua script, with its SHA-1 for `EVALSHA`.
pub struct Script {
    pub source: &'static str,
    sha1: OnceLock<String>,
}

impl Script {
    pub const fn new(source: &'static str) -> Script {
        Script { source, sha1: OnceLock::new() }
    }

    pub fn sha1(&self) -> &str {
        self.sha1.get_or_init(|| sha1_smol::Sha1::from(self.source).digest().to_string())
    }
}

/// What a host supplies: a Redis client. Failures come back already mapped to [`StoreError`]:
/// a server that cannot be reached is `Unavailable`, anything else `Internal`.
#[async_trait::async_trait]
pub trait Driver: Send + Sync {
    /// Runs a script (by `EVALSHA`, or `EVAL`: the same script, the same atomicity).
    async fn eval(&self, script: &'static Script, keys: Vec<String>, args: Vec<Arg>) -> StoreResult<Vec<Reply>>;
    async fn command(&self, name: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Reply>>;
    /// As [`Driver::eval`], for a write that must outlive a failover: the driver then waits, for
    /// a bounded time, until the server's replicas have it (`WAIT`, on the same connection).
    /// Drivers of a Redis without replicas, or that cannot tell, just run the script.
    async fn eval_replicated(
        &self,
        script: &'static Script,
        keys: Vec<String>,
        args: Vec<Arg>,
    ) -> StoreResult<Vec<Reply>> {
        self.eval(script, keys, args).await
    }
}

/// KEYS: session, index, credentials, profile. ARGV: json, ttl ms, token hash, expires at,
/// now, last activity, max sessions (0: no cap), session key prefix, credential version, user
/// id, profile json, last login ('' for none). Returns 0 when the credential version is stale,
/// else 1 followed by the evicted sessions' JSON.
pub static CREATE_SESSION: Script = Script::new(
    r"
if tonumber(redis.call('GET', KEYS[3]) or '0') > tonumber(ARGV[9]) then return {0} end
local function key(h) return ARGV[8] .. h end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'la', ARGV[6], 'uid', ARGV[10])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
local evicted = {1}
local max = tonumber(ARGV[7])
if max > 0 then
  local live = {}
  for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local la = redis.call('HGET', key(h), 'la')
    if la then table.insert(live, {h, tonumber(la)}) else redis.call('ZREM', KEYS[2], h) end
  end
  if #live > max then
    table.sort(live, function(a, b) return a[2] < b[2] end)
    local n = #live - max
    for _, entry in ipairs(live) do
      if n == 0 then break end
      if entry[1] ~= ARGV[3] then
        table.insert(evicted, redis.call('HGET', key(entry[1]), 'data'))
        redis.call('DEL', key(entry[1]))
        redis.call('ZREM', KEYS[2], entry[1])
        n = n - 1
      end
    end
  end
end
redis.call('HSET', KEYS[4], 'p', ARGV[11])
if ARGV[12] ~= '' and tonumber(redis.call('HGET', KEYS[4], 'll') or '0') < tonumber(ARGV[12]) then
  redis.call('HSET', KEYS[4], 'll', ARGV[12])
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[2], last[2])
  redis.call('PEXPIREAT', KEYS[4], last[2])
end
return evicted
",
);

/// KEYS: session. ARGV: profile key prefix. Returns nothing when there is no session, else
/// data, last activity, profile json, last login (nil where missing).
pub static GET_SESSION: Script = Script::new(
    r"
local v = redis.call('HMGET', KEYS[1], 'data', 'la', 'uid')
if not v[1] then return {} end
local p = {false, false}
if v[3] then p = redis.call('HMGET', ARGV[1] .. v[3], 'p', 'll') end
return {v[1], v[2], p[1], p[2]}
",
);

/// KEYS: index, profile. ARGV: profile json, last login ('' for none). Keeps the profile, and
/// the newest last login, while the user has sessions; returns 1 when kept.
pub static PUT_USER_PROFILE: Script = Script::new(
    r"
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if not last[2] then return 0 end
redis.call('HSET', KEYS[2], 'p', ARGV[1])
if ARGV[2] ~= '' and tonumber(redis.call('HGET', KEYS[2], 'll') or '0') < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[2], 'll', ARGV[2])
end
redis.call('PEXPIREAT', KEYS[2], last[2])
return 1
",
);

/// KEYS: session. ARGV: last activity, ttl ms. Returns 1, or 0 when the session is gone.
pub static TOUCH_SESSION: Script = Script::new(
    r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'la', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
);

/// KEYS: session, index. ARGV: token hash. Returns 1 when the session existed.
pub static DELETE_SESSION: Script = Script::new(
    r"
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
",
);

/// KEYS: index. ARGV: token hash to keep ('' keeps none), session key prefix. Returns how many ended.
pub static DELETE_OTHER_SESSIONS: Script = Script::new(
    r"
local n = 0
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if h ~= ARGV[1] then
    n = n + redis.call('DEL', ARGV[2] .. h)
    redis.call('ZREM', KEYS[1], h)
  end
end
return n
",
);

/// KEYS: index, profile. ARGV: session key prefix, now. Deletes every session of the user, the
/// index and the profile; returns how many sessions were live.
pub static ERASE_USER: Script = Script::new(
    r"
local n = 0
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local la = redis.call('HGET', ARGV[1] .. h, 'la')
  if la then n = n + 1 end
  redis.call('DEL', ARGV[1] .. h)
end
redis.call('DEL', KEYS[1], KEYS[2])
return n
",
);

/// KEYS: index. ARGV: session key prefix, now. Returns data, la, data, la, ...
pub static LIST_SESSIONS: Script = Script::new(
    r"
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
);

/// KEYS: credentials. ARGV: version, ms to keep it. Raises the version, never lowers it.
pub static SET_CREDENTIAL_VERSION: Script = Script::new(
    r"
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
);

/// KEYS: counter. ARGV: limit, now, lease ms. Returns {0, 0, 0} admitted, {1, 0, 0} busy,
/// or {2, ms left in the window, attempts refused in it} locked.
pub static BEGIN_ATTEMPT: Script = Script::new(
    r"
local v = redis.call('HMGET', KEYS[1], 'f', 'i', 'w')
local f, i, w = tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0')
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[1])
if w <= now then f = 0 end
if f >= limit then return {2, w - now, redis.call('HINCRBY', KEYS[1], 'r', 1)} end
if f + i >= limit then return {1, 0, 0} end
redis.call('HINCRBY', KEYS[1], 'i', 1)
local keep = math.max(w - now, tonumber(ARGV[3]))
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return {0, 0, 0}
",
);

/// KEYS: counter. ARGV: failed (1 or 0), window ms, now, lease ms.
pub static END_ATTEMPT: Script = Script::new(
    r"
local v = redis.call('HMGET', KEYS[1], 'i', 'w')
local i, w = tonumber(v[1] or '0'), tonumber(v[2] or '0')
local now = tonumber(ARGV[3])
if i > 0 then redis.call('HINCRBY', KEYS[1], 'i', -1) end
if ARGV[1] == '1' then
  if w > now then
    redis.call('HINCRBY', KEYS[1], 'f', 1)
  else
    w = now + tonumber(ARGV[2])
    redis.call('HSET', KEYS[1], 'f', 1, 'w', w, 'r', 0)
  end
end
local keep = math.max(w - now, tonumber(ARGV[4]))
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return 1
",
);

/// The key layout under a prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys { prefix: prefix.to_string() }
    }

    /// Where the keys of a user with this routing tag live: `P{T}:`.
    fn user_space(&self, route: &str) -> String {
        format!("{}{{{route}}}:", self.prefix)
    }

    /// What the keys of the sessions of a user start with (the scripts append a token hash).
    pub fn session_prefix(&self, user_id: &str) -> String {
        format!("{}session:", self.user_space(&route_tag(user_id)))
    }

    /// The session's key; none for a hash without a routing tag (no session has one).
    pub fn session(&self, token_hash: &TokenHash) -> Option<String> {
        Some(format!("{}session:{token_hash}", self.user_space(token_hash.route()?)))
    }

    pub fn index(&self, user_id: &str) -> String {
        format!("{}user-sessions:{user_id}", self.user_space(&route_tag(user_id)))
    }

    pub fn profile_prefix(&self, route: &str) -> String {
        format!("{}profile:", self.user_space(route))
    }

    pub fn profile(&self, user_id: &str) -> String {
        format!("{}{user_id}", self.profile_prefix(&route_tag(user_id)))
    }

    pub fn credentials(&self, user_id: &str) -> String {
        format!("{}credentials:{user_id}", self.user_space(&route_tag(user_id)))
    }

    pub fn attempts(&self, key: &str) -> String {
        format!("{}attempts:{key}", self.prefix)
    }
}

/// The session store on a Redis client.
pub struct RedisSessions<D> {
    driver: D,
    keys: Keys,
}

impl<D: Driver> RedisSessions<D> {
    pub fn new(driver: D, prefix: &str) -> Self {
        RedisSessions { driver, keys: Keys::new(prefix) }
    }

    /// Ends every session of the user but the one with `keep` ('' keeps none).
    async fn end_sessions(&self, user_id: UserId, keep: String) -> StoreResult<u32> {
        let index = self.keys.index(user_id.as_str());
        let args = vec![Arg::Text(keep), Arg::Text(self.keys.session_prefix(user_id.as_str()))];
        let n = int(self.driver.eval_replicated(&DELETE_OTHER_SESSIONS, vec![index], args).await?)?;
        u32::try_from(n).map_err(|_| internal(format!("{n} is not a count")))
    }
}

#[async_trait::async_trait]
impl<D: Driver> SessionStore for RedisSessions<D> {
    async fn create_session(
        &self,
        s: Session,
        user: UserProfile,
        max_sessions: u32,
        credential_version: u64,
    ) -> StoreResult<SessionCreated> {
        let token_hash = s.token();
        if token_hash.route() != Some(route_tag(&s.user_id).as_str()) {
            return Err(internal(format!("the token hash {token_hash} does not carry its user's routing tag")));
        }
        let now = crate::now_ms();
        let ttl = s.expires_at - now;
        if ttl <= 0 {
            return Ok(SessionCreated::Created(Vec::new()));
        }
        let session_key = self.keys.session(&token_hash).expect("routed, checked above");
        let keys = vec![
            session_key,
            self.keys.index(&s.user_id),
            self.keys.credentials(&s.user_id),
            self.keys.profile(&s.user_id),
        ];
        let args = vec![
            Arg::Text(record::encode(&s)),
            Arg::Int(ttl),
            Arg::Text(s.token_hash.clone()),
            Arg::Int(s.expires_at),
            Arg::Int(now),
            Arg::Int(s.last_activity),
            Arg::Int(max_sessions as i64),
            Arg::Text(self.keys.session_prefix(&s.user_id)),
            Arg::Text(credential_version.to_string()),
            Arg::Text(s.user_id.clone()),
            Arg::Text(record::encode_profile(&user)),
            Arg::Text(user.last_login.map(|t| t.to_string()).unwrap_or_default()),
        ];
        let mut reply = self.driver.eval(&CREATE_SESSION, keys, args).await?.into_iter();
        match reply.next() {
            Some(Reply::Int(0)) => Ok(SessionCreated::Stale),
            Some(Reply::Int(1)) => Ok(SessionCreated::Created(
                reply.map(|r| record::decode(&string(r)?, None).map(|s| s.id)).collect::<StoreResult<_>>()?,
            )),
            other => Err(internal(format!("unexpected reply to CREATE_SESSION: {other:?}"))),
        }
    }

    async fn get_session(&self, token_hash: TokenHash) -> StoreResult<Option<SessionLookup>> {
        let (Some(key), Some(route)) = (self.keys.session(&token_hash), token_hash.route()) else { return Ok(None) };
        let reply = self.driver.eval(&GET_SESSION, vec![key], vec![Arg::Text(self.keys.profile_prefix(route))]).await?;
        if reply.is_empty() {
            return Ok(None);
        }
        let [data, la, profile, last_login] =
            <[Reply; 4]>::try_from(reply).map_err(|r| unexpected("GET_SESSION", &r))?;
        let Some(data) = opt_string(data)? else { return Ok(None) };
        let session = record::decode(&data, opt_int(la, "last activity")?)?;
        if session.expires_at <= crate::now_ms() {
            return Ok(None);
        }
        let user = match opt_string(profile)? {
            Some(json) => Some(record::decode_profile(&json, opt_int(last_login, "last login")?)?),
            None => None,
        };
        // A profile is only ever the session's own user's; anything else is not trusted.
        let user = user.filter(|p| p.id == session.user_id);
        Ok(Some(SessionLookup { session, user }))
    }

    async fn put_user_profile(&self, user: UserProfile) -> StoreResult<()> {
        let keys = vec![self.keys.index(&user.id), self.keys.profile(&user.id)];
        let args = vec![
            Arg::Text(record::encode_profile(&user)),
            Arg::Text(user.last_login.map(|t| t.to_string()).unwrap_or_default()),
        ];
        self.driver.eval(&PUT_USER_PROFILE, keys, args).await.map(drop)
    }

    async fn touch_session(&self, token_hash: TokenHash, at: i64, keep_until: i64) -> StoreResult<bool> {
        let Some(key) = self.keys.session(&token_hash) else { return Ok(false) };
        let ttl = keep_until - crate::now_ms();
        if ttl <= 0 {
            self.driver.command("DEL", vec![Arg::Text(key)]).await?;
            return Ok(false);
        }
        int(self.driver.eval(&TOUCH_SESSION, vec![key], vec![Arg::Int(at), Arg::Int(ttl)]).await?).map(|n| n == 1)
    }

    async fn delete_session(&self, user_id: UserId, token_hash: TokenHash) -> StoreResult<bool> {
        let Some(session_key) = self.keys.session(&token_hash) else { return Ok(false) };
        if token_hash.route() != Some(route_tag(user_id.as_str()).as_str()) {
            return Ok(false);
        }
        let keys = vec![session_key, self.keys.index(user_id.as_str())];
        // Ending a session must outlive a failover.
        let reply =
            self.driver.eval_replicated(&DELETE_SESSION, keys, vec![Arg::Text(token_hash.into_string())]).await?;
        int(reply).map(|n| n > 0)
    }

    async fn delete_other_sessions(&self, user_id: UserId, keep_token_hash: TokenHash) -> StoreResult<u32> {
        self.end_sessions(user_id, keep_token_hash.into_string()).await
    }

    async fn delete_user_sessions(&self, user_id: UserId) -> StoreResult<u32> {
        self.end_sessions(user_id, String::new()).await
    }

    async fn erase_user(&self, user_id: UserId) -> StoreResult<u32> {
        let id = user_id.as_str();
        let keys = vec![self.keys.index(id), self.keys.profile(id)];
        let args = vec![Arg::Text(self.keys.session_prefix(id)), Arg::Int(crate::now_ms())];
        let n = int(self.driver.eval_replicated(&ERASE_USER, keys, args).await?)?;
        u32::try_from(n).map_err(|_| internal(format!("{n} is not a count")))
    }

    async fn list_sessions(&self, user_id: UserId) -> StoreResult<Vec<Session>> {
        let keys = vec![self.keys.index(user_id.as_str())];
        let args = vec![Arg::Text(self.keys.session_prefix(user_id.as_str())), Arg::Int(crate::now_ms())];
        let reply = self.driver.eval(&LIST_SESSIONS, keys, args).await?;
        let raw = reply.into_iter().map(opt_string).collect::<StoreResult<Vec<_>>>()?;
        // data, la pairs; a pair without data is skipped, a last activity that is not a number ignored.
        raw.chunks(2)
            .filter_map(|pair| Some((pair[0].as_deref()?, pair.get(1).cloned().flatten())))
            .map(|(data, la)| record::decode(data, la.and_then(|l| l.parse().ok())))
            .collect()
    }

    async fn set_credential_version(&self, user_id: UserId, version: u64) -> StoreResult<()> {
        let keys = vec![self.keys.credentials(user_id.as_str())];
        let args = vec![Arg::Text(version.to_string()), Arg::Int(CREDENTIAL_MEMORY_MS)];
        self.driver.eval_replicated(&SET_CREDENTIAL_VERSION, keys, args).await.map(drop)
    }

    async fn begin_attempt(&self, key: String, limit: u32, _window_ms: u64) -> StoreResult<AttemptGate> {
        let args = vec![Arg::Int(limit.into()), Arg::Int(crate::now_ms()), Arg::Int(ATTEMPT_LEASE_MS)];
        let reply = self.driver.eval(&BEGIN_ATTEMPT, vec![self.keys.attempts(&key)], args).await?;
        match reply.as_slice() {
            [Reply::Int(0), ..] => Ok(AttemptGate::Admitted),
            [Reply::Int(1), ..] => Ok(AttemptGate::Busy),
            [Reply::Int(2), Reply::Int(left), Reply::Int(refused)] => {
                Ok(AttemptGate::Locked(Lock { retry_after_ms: (*left).max(0) as u64, first: *refused == 1 }))
            }
            _ => Err(unexpected("BEGIN_ATTEMPT", &reply)),
        }
    }

    async fn end_attempt(&self, key: String, failed: bool, window_ms: u64) -> StoreResult<()> {
        let args = vec![
            Arg::Int(failed.into()),
            // u64 as text: an i64 argument could not carry every u64, and Lua reads text anyway.
            Arg::Text(window_ms.max(1).to_string()),
            Arg::Int(crate::now_ms()),
            Arg::Int(ATTEMPT_LEASE_MS),
        ];
        let keys = vec![self.keys.attempts(&key)];
        // A counted failure must outlive a failover, or the guesser gets the guess back.
        let ran = if failed {
            self.driver.eval_replicated(&END_ATTEMPT, keys, args).await
        } else {
            self.driver.eval(&END_ATTEMPT, keys, args).await
        };
        ran.map(drop)
    }

    async fn reset_attempts(&self, key: String) -> StoreResult<()> {
        let args = ["f", "w", "r"].map(|f| Arg::Text(f.into()));
        let mut all = vec![Arg::Text(self.keys.attempts(&key))];
        all.extend(args);
        self.driver.command("HDEL", all).await.map(drop)
    }

    async fn forget_attempts(&self, key: String) -> StoreResult<()> {
        self.driver.command("DEL", vec![Arg::Text(self.keys.attempts(&key))]).await.map(drop)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.driver.command("PING", vec![]).await.map(drop)
    }
}

fn opt_string(r: Reply) -> StoreResult<Option<String>> {
    match r {
        Reply::Nil => Ok(None),
        Reply::Bytes(b) => String::from_utf8(b).map(Some).map_err(|_| internal("reply is not UTF-8".into())),
        Reply::Status(s) => Ok(Some(s)),
        Reply::Int(n) => Ok(Some(n.to_string())),
    }
}

/// An integer sent as text, if any.
fn opt_int(r: Reply, what: &str) -> StoreResult<Option<i64>> {
    match opt_string(r)? {
        Some(t) => t.parse::<i64>().map(Some).map_err(|_| internal(format!("{what} {t:?} is not an integer"))),
        None => Ok(None),
    }
}

fn string(r: Reply) -> StoreResult<String> {
    opt_string(r)?.ok_or_else(|| internal("unexpected nil".into()))
}

/// The single integer most scripts return.
fn int(reply: Vec<Reply>) -> StoreResult<i64> {
    match reply.as_slice() {
        [Reply::Int(n)] => Ok(*n),
        _ => Err(unexpected("a script", &reply)),
    }
}

fn internal(detail: String) -> StoreError {
    StoreError::Internal(format!("redis: {detail}"))
}

fn unexpected(what: &str, reply: &[Reply]) -> StoreError {
    internal(format!("unexpected reply to {what}: {reply:?}"))
}

/// Tells a failure that means "the server cannot be reached" from any other, by the words
/// clients put in their messages (Spin passes only the message of its client's error).
pub fn is_unreachable(message: &str) -> bool {
    const GONE: [&str; 12] = [
        "os error",
        "refused",
        "reset",
        "broken pipe",
        "closed",
        "timed out",
        "terminated",
        "dropped",
        "connection",
        "i/o error",
        "io error",
        "unexpected end of file",
    ];
    let m = message.to_ascii_lowercase();
    GONE.iter().any(|g| m.contains(g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A call as sent: the script's SHA-1 or the command's name, the keys, the arguments.
    type Sent = (String, Vec<String>, Vec<Arg>);

    /// Records what would be sent and answers with canned replies, one per call.
    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<Sent>>,
        replies: Mutex<Vec<Vec<Reply>>>,
    }

    #[async_trait::async_trait]
    impl Driver for Recorder {
        async fn eval(&self, script: &'static Script, keys: Vec<String>, args: Vec<Arg>) -> StoreResult<Vec<Reply>> {
            self.sent.lock().unwrap().push((script.sha1().to_string(), keys, args));
            Ok(self.replies.lock().unwrap().remove(0))
        }
        async fn command(&self, name: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Reply>> {
            self.sent.lock().unwrap().push((name.to_string(), vec![], args));
            Ok(self.replies.lock().unwrap().remove(0))
        }
        async fn eval_replicated(
            &self,
            script: &'static Script,
            keys: Vec<String>,
            args: Vec<Arg>,
        ) -> StoreResult<Vec<Reply>> {
            self.sent.lock().unwrap().push((format!("{} +WAIT", script.sha1()), keys, args));
            Ok(self.replies.lock().unwrap().remove(0))
        }
    }

    fn store(replies: Vec<Vec<Reply>>) -> RedisSessions<Recorder> {
        let s = RedisSessions::new(Recorder::default(), "p:");
        *s.driver.replies.lock().unwrap() = replies;
        s
    }

    fn hash() -> String {
        format!("{}.ab12", route_tag("u1"))
    }

    fn session(expires_at: i64) -> Session {
        Session {
            id: "pub1".into(),
            token_hash: hash(),
            user_id: "u1".into(),
            ip_address: "1.2.3.4".into(),
            user_agent: "ua".into(),
            device: Device { browser: "Firefox".into(), summary: "Firefox on Linux".into(), ..Device::default() },
            location: "Local".into(),
            created_at: 10,
            last_activity: 20,
            expires_at,
            mfa: false,
        }
    }

    fn profile() -> UserProfile {
        UserProfile {
            id: "u1".into(),
            email: "a@b.co".into(),
            username: "abc".into(),
            full_name: "A".into(),
            created_at: 1,
            last_login: Some(20),
            email_verified: false,
            mfa_enabled: false,
        }
    }

    fn bytes(s: &str) -> Reply {
        Reply::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn scripts_know_their_sha1() {
        assert_eq!(Script::new("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }

    #[test]
    fn every_key_of_a_user_shares_its_routing_tag() {
        let keys = Keys::new("p:");
        let tag = route_tag("u1");
        let space = format!("p:{{{tag}}}:");
        assert_eq!(keys.session(&TokenHash::from(hash())).unwrap(), format!("{space}session:{}", hash()));
        assert_eq!(keys.index("u1"), format!("{space}user-sessions:u1"));
        assert_eq!(keys.profile("u1"), format!("{space}profile:u1"));
        assert_eq!(keys.credentials("u1"), format!("{space}credentials:u1"));
        assert_eq!(keys.session_prefix("u1"), format!("{space}session:"));
        assert_eq!(keys.session(&TokenHash::from("ab12")), None, "no tag, no key");
        assert_eq!(keys.attempts("k"), "p:attempts:k");
    }

    #[test]
    fn create_passes_keys_and_arguments_and_decodes_the_evicted() {
        let far = crate::now_ms() + 600_000;
        let json = record::encode(&session(far));
        let s = store(vec![vec![Reply::Int(1), bytes(&json)], vec![Reply::Int(0)]]);
        let created = complete(s.create_session(session(far), profile(), 3, 7)).unwrap();
        assert_eq!(created, SessionCreated::Created(vec!["pub1".into()]));
        let (sha, keys, args) = s.driver.sent.lock().unwrap()[0].clone();
        assert_eq!(sha, CREATE_SESSION.sha1());
        let k = Keys::new("p:");
        let expected =
            [k.session(&TokenHash::from(hash())).unwrap(), k.index("u1"), k.credentials("u1"), k.profile("u1")];
        assert_eq!(keys, expected);
        assert_eq!(args[0], Arg::Text(json));
        assert_eq!(args[2..4], [Arg::Text(hash()), Arg::Int(far)]);
        assert_eq!(args[5..8], [Arg::Int(20), Arg::Int(3), Arg::Text(k.session_prefix("u1"))]);
        assert_eq!(args[8..10], [Arg::Text("7".into()), Arg::Text("u1".into())]);
        assert_eq!(args[10..], [Arg::Text(record::encode_profile(&profile())), Arg::Text("20".into())]);
        assert_eq!(complete(s.create_session(session(far), profile(), 3, 6)).unwrap(), SessionCreated::Stale);
        let s = store(vec![]);
        let expired = complete(s.create_session(session(1), profile(), 0, 0)).unwrap();
        assert_eq!(expired, SessionCreated::Created(vec![]), "an expired session is not stored");
        let unrouted = Session { token_hash: "ab12".into(), ..session(far) };
        assert!(complete(s.create_session(unrouted, profile(), 0, 0)).is_err(), "a hash without its user's tag");
        assert!(s.driver.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn replies_decode() {
        let far = crate::now_ms() + 600_000;
        let json = record::encode(&session(far));
        let p = record::encode_profile(&profile());
        let get = |reply: Vec<Reply>| complete(store(vec![reply]).get_session(hash().into()));
        let got = get(vec![bytes(&json), bytes("77"), bytes(&p), bytes("99")]).unwrap().unwrap();
        assert_eq!(got.session.last_activity, 77, "the separately kept last activity wins");
        assert_eq!(got.user, Some(UserProfile { last_login: Some(99), ..profile() }));
        let no_profile = get(vec![bytes(&json), bytes("77"), Reply::Nil, Reply::Nil]).unwrap().unwrap();
        assert_eq!(no_profile.user, None);
        let someone_else = record::encode_profile(&UserProfile { id: "u2".into(), ..profile() });
        assert_eq!(get(vec![bytes(&json), Reply::Nil, bytes(&someone_else), Reply::Nil]).unwrap().unwrap().user, None);
        let expired = record::encode(&session(5));
        assert_eq!(get(vec![bytes(&expired), Reply::Nil, Reply::Nil, Reply::Nil]).unwrap(), None);
        assert_eq!(get(vec![]).unwrap(), None);
        assert!(get(vec![bytes(&json), bytes("x"), Reply::Nil, Reply::Nil]).is_err());
        assert!(get(vec![bytes(&json)]).is_err());
        let unrouted = complete(store(vec![]).get_session("ab12".into())).unwrap();
        assert_eq!(unrouted, None, "a hash without a tag is never looked up");

        let listed = vec![bytes(&json), bytes("5"), Reply::Nil, Reply::Nil, bytes(&json), bytes("x")];
        let list = complete(store(vec![listed]).list_sessions("u".into())).unwrap();
        assert_eq!(list.iter().map(|s| s.last_activity).collect::<Vec<_>>(), vec![5, 20]);

        let gate = |reply: Vec<Reply>| complete(store(vec![reply]).begin_attempt("k".into(), 5, 9));
        assert_eq!(gate(vec![Reply::Int(0), Reply::Int(0), Reply::Int(0)]).unwrap(), AttemptGate::Admitted);
        assert_eq!(gate(vec![Reply::Int(1), Reply::Int(0), Reply::Int(0)]).unwrap(), AttemptGate::Busy);
        let locked = gate(vec![Reply::Int(2), Reply::Int(900), Reply::Int(1)]).unwrap();
        assert_eq!(locked, AttemptGate::Locked(Lock { retry_after_ms: 900, first: true }));
        assert!(gate(vec![Reply::Int(2)]).is_err());
        assert!(complete(store(vec![vec![Reply::Int(-1)]]).delete_other_sessions("u".into(), "h".into())).is_err());
    }

    /// Writes that end sessions, raise a credential version or count a failure wait for the
    /// replicas of the server that took them; reads and successes do not.
    #[test]
    fn writes_that_must_outlive_a_failover_wait_for_replicas() {
        let waited = |s: &RedisSessions<Recorder>| -> Vec<bool> {
            s.driver.sent.lock().unwrap().iter().map(|(name, _, _)| name.ends_with("+WAIT")).collect()
        };
        let s = store(vec![vec![Reply::Int(1)], vec![Reply::Int(2)], vec![Reply::Int(3)], vec![Reply::Int(1)]]);
        assert!(complete(s.delete_session("u1".into(), hash().into())).unwrap());
        assert_eq!(complete(s.delete_other_sessions("u1".into(), hash().into())).unwrap(), 2);
        assert_eq!(complete(s.delete_user_sessions("u1".into())).unwrap(), 3);
        complete(s.set_credential_version("u1".into(), 3)).unwrap();
        assert_eq!(waited(&s), [true; 4]);
        let s = store(vec![vec![Reply::Int(1)], vec![Reply::Int(1)], vec![]]);
        complete(s.end_attempt("k".into(), true, 1000)).unwrap();
        complete(s.end_attempt("k".into(), false, 1000)).unwrap();
        let _ = complete(s.get_session(hash().into()));
        assert_eq!(waited(&s), [true, false, false], "a success or a read waits for nothing");
    }

    #[test]
    fn unreachable_servers_are_told_by_their_message() {
        assert!(is_unreachable("Connection refused (os error 111)"));
        assert!(is_unreachable("broken pipe"));
        assert!(!is_unreachable("ERR user_script:1: Script attempted to access nonexistent global"));
        assert!(!is_unreachable("WRONGTYPE Operation against a key holding the wrong kind of value"));
    }
}
