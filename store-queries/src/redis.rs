//! Redis layout and Lua scripts of the session store.
//!
//! Keys, under a configurable prefix `P`:
//! - `P session:<token-hash>`: a hash with `data` (the session as JSON) and `la` (its last
//!   activity, Unix ms, kept apart so a touch rewrites one field), expiring with the session;
//! - `P user-sessions:<user-id>`: a sorted set of the user's token hashes scored by expiry,
//!   pruned of expired entries whenever it changes or is read;
//! - `P attempts:<key>`: a login-attempt counter that expires with its window.
//!
//! Every operation that reads and writes, or touches more than one key, is one script, so no
//! reader ever sees a session without its index entry or the reverse. Scripts return flat
//! arrays only, which every Redis client (Spin's too) passes through unchanged. (They name
//! session keys derived from the index, so on Redis Cluster a user's sessions and index would
//! need a shared hash tag; that layout is not implemented yet.)

pub fn session_prefix(prefix: &str) -> String {
    format!("{prefix}session:")
}

pub fn session_key(prefix: &str, token_hash: &str) -> String {
    format!("{prefix}session:{token_hash}")
}

pub fn index_key(prefix: &str, user_id: &str) -> String {
    format!("{prefix}user-sessions:{user_id}")
}

pub fn attempts_key(prefix: &str, key: &str) -> String {
    format!("{prefix}attempts:{key}")
}

/// KEYS: session, index. ARGV: json, ttl ms, token hash, expires at, now, last activity,
/// max sessions (0: no cap), session key prefix. Returns the evicted sessions' JSON.
pub const CREATE_SESSION: &str = r"
local function key(h) return ARGV[8] .. h end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'la', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
local evicted = {}
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
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[2], last[2]) end
return evicted
";

/// The fields of a session hash, in the order a reader asks for them with `HMGET`.
pub const SESSION_FIELDS: [&str; 2] = ["data", "la"];

/// KEYS: session. ARGV: last activity, ttl ms. Returns 1, or 0 when the session is gone.
pub const TOUCH_SESSION: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'la', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS: session, index. ARGV: token hash. Returns 1 when the session existed.
pub const DELETE_SESSION: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
";

/// KEYS: index. ARGV: token hash to keep ('' keeps none), session key prefix. Returns how many ended.
pub const DELETE_OTHER_SESSIONS: &str = r"
local n = 0
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if h ~= ARGV[1] then
    n = n + redis.call('DEL', ARGV[2] .. h)
    redis.call('ZREM', KEYS[1], h)
  end
end
return n
";

/// KEYS: index. ARGV: session key prefix, now. Returns data, la, data, la, ...
pub const LIST_SESSIONS: &str = r"
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
";

/// KEYS: counter. ARGV: window ms. Returns {count, ms left in the window}.
pub const COUNT_ATTEMPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
";

/// KEYS: counter. Takes back one attempt (never below zero).
pub const UNCOUNT_ATTEMPT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 1
";
