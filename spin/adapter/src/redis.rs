//! The session store's Redis calls and the decoding of their replies, for Spin's
//! `fermyon:spin/redis@2.0.0`. Scripts and key layout are `asm_store_queries::redis`, the text
//! the native host runs (natively through EVALSHA, here through EVAL: the same script, the
//! same atomicity, no SCRIPT LOAD bookkeeping), with the same KEYS and ARGV, so both hosts
//! can share one Redis. Spin's `execute` flattens nested replies into one list; every script
//! already returns a flat one.

use crate::StoreResult;
use crate::bindings::exports::asm::auth::types::{Attempts, Session, StoreError};
use asm_store_queries::redis as q;

/// A command argument, as Spin passes it (`RedisParameter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Int(i64),
    Bytes(Vec<u8>),
}

impl Arg {
    fn text(s: impl Into<String>) -> Arg {
        Arg::Bytes(s.into().into_bytes())
    }
}

/// One element of a reply, as Spin returns it (`RedisResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Nil,
    Status(String),
    Int(i64),
    Bytes(Vec<u8>),
}

/// A command for `execute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: &'static str,
    pub args: Vec<Arg>,
}

/// `EVAL script numkeys key… arg…`.
pub fn eval(script: &'static str, keys: &[String], args: Vec<Arg>) -> Command {
    let mut all = Vec::with_capacity(2 + keys.len() + args.len());
    all.push(Arg::Bytes(script.as_bytes().to_vec()));
    all.push(Arg::Int(keys.len() as i64));
    all.extend(keys.iter().map(|k| Arg::text(k.as_str())));
    all.extend(args);
    Command { name: "EVAL", args: all }
}

/// Stores the session with its index entry and returns the command, or None when it has
/// already expired (nothing is stored, nothing evicted: as natively).
pub fn create_session(prefix: &str, s: &Session, max_sessions: u32, now: i64) -> StoreResult<Option<Command>> {
    let ttl = s.expires_at - now;
    if ttl <= 0 {
        return Ok(None);
    }
    let json = serde_json::to_string(s).map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(Some(eval(
        q::CREATE_SESSION,
        &[q::session_key(prefix, &s.token_hash), q::index_key(prefix, &s.user_id)],
        vec![
            Arg::text(json),
            Arg::Int(ttl),
            Arg::text(s.token_hash.as_str()),
            Arg::Int(s.expires_at),
            Arg::Int(now),
            Arg::Int(s.last_activity),
            Arg::Int(max_sessions as i64),
            Arg::text(q::session_prefix(prefix)),
        ],
    )))
}

/// The public ids of the sessions `CREATE_SESSION` evicted (it returns their JSON).
pub fn evicted_ids(reply: Vec<Reply>) -> StoreResult<Vec<String>> {
    reply.into_iter().map(|r| decode(&string(r)?, None).map(|s| s.id)).collect()
}

/// `HMGET session data la`.
pub fn get_session(prefix: &str, token_hash: &str) -> Command {
    let mut args = vec![Arg::text(q::session_key(prefix, token_hash))];
    args.extend(q::SESSION_FIELDS.iter().map(|f| Arg::text(*f)));
    Command { name: "HMGET", args }
}

/// The session `get_session` read, unless it is missing or past its expiry.
pub fn session_reply(reply: Vec<Reply>, now: i64) -> StoreResult<Option<Session>> {
    let [data, la] = <[Reply; 2]>::try_from(reply).map_err(|r| unexpected("HMGET", &r))?;
    let Some(data) = opt_string(data)? else { return Ok(None) };
    let la = match opt_string(la)? {
        Some(l) => Some(
            l.parse::<i64>()
                .map_err(|_| StoreError::Internal(format!("redis: last activity {l:?} is not an integer")))?,
        ),
        None => None,
    };
    let s = decode(&data, la)?;
    Ok((s.expires_at > now).then_some(s))
}

/// What touching a session takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// `keep_until` is already past: the session key goes and the answer is false (as natively).
    Delete(String),
    Eval(Command),
}

pub fn touch_session(prefix: &str, token_hash: &str, at: i64, keep_until: i64, now: i64) -> Touch {
    let key = q::session_key(prefix, token_hash);
    let ttl = keep_until - now;
    if ttl <= 0 {
        return Touch::Delete(key);
    }
    Touch::Eval(eval(q::TOUCH_SESSION, &[key], vec![Arg::Int(at), Arg::Int(ttl)]))
}

pub fn delete_session(prefix: &str, user_id: &str, token_hash: &str) -> Command {
    eval(
        q::DELETE_SESSION,
        &[q::session_key(prefix, token_hash), q::index_key(prefix, user_id)],
        vec![Arg::text(token_hash)],
    )
}

pub fn delete_other_sessions(prefix: &str, user_id: &str, keep_token_hash: &str) -> Command {
    eval(
        q::DELETE_OTHER_SESSIONS,
        &[q::index_key(prefix, user_id)],
        vec![Arg::text(keep_token_hash), Arg::text(q::session_prefix(prefix))],
    )
}

pub fn list_sessions(prefix: &str, user_id: &str, now: i64) -> Command {
    eval(q::LIST_SESSIONS, &[q::index_key(prefix, user_id)], vec![Arg::text(q::session_prefix(prefix)), Arg::Int(now)])
}

/// `data, la, data, la, …` → sessions; a pair without data is skipped and a last activity
/// that is not a number is ignored, as natively.
pub fn sessions_reply(reply: Vec<Reply>) -> StoreResult<Vec<Session>> {
    let raw = reply.into_iter().map(opt_string).collect::<StoreResult<Vec<_>>>()?;
    raw.chunks(2)
        .filter_map(|pair| Some((pair[0].as_deref()?, pair.get(1).cloned().flatten())))
        .map(|(data, la)| decode(data, la.and_then(|l| l.parse().ok())))
        .collect()
}

pub fn count_attempt(prefix: &str, key: &str, window_ms: u64) -> Command {
    // u64 as text: an i64 argument could not carry every u64, and Lua reads text anyway.
    eval(q::COUNT_ATTEMPT, &[q::attempts_key(prefix, key)], vec![Arg::text(window_ms.max(1).to_string())])
}

/// `{count, ms left}` → attempts.
pub fn attempts_reply(reply: Vec<Reply>) -> StoreResult<Attempts> {
    match reply.as_slice() {
        [Reply::Int(n), Reply::Int(ttl)] if *n >= 0 => {
            Ok(Attempts { count: (*n as u64).min(u32::MAX as u64) as u32, retry_after_ms: (*ttl).max(0) as u64 })
        }
        _ => Err(unexpected("COUNT_ATTEMPT", &reply)),
    }
}

pub fn uncount_attempt(prefix: &str, key: &str) -> Command {
    eval(q::UNCOUNT_ATTEMPT, &[q::attempts_key(prefix, key)], vec![])
}

pub fn attempts_key(prefix: &str, key: &str) -> String {
    q::attempts_key(prefix, key)
}

pub fn ping() -> Command {
    Command { name: "PING", args: vec![] }
}

/// The single integer most scripts return.
pub fn int_reply(reply: Vec<Reply>) -> StoreResult<i64> {
    match reply.as_slice() {
        [Reply::Int(n)] => Ok(*n),
        _ => Err(unexpected("integer", &reply)),
    }
}

/// An integer reply that must fit a u32 (a count of sessions).
pub fn u32_reply(reply: Vec<Reply>) -> StoreResult<u32> {
    let n = int_reply(reply)?;
    u32::try_from(n).map_err(|_| StoreError::Internal(format!("redis: {n} is not a count")))
}

/// A stored session, with its separately kept last activity when there is one.
fn decode(data: &str, last_activity: Option<i64>) -> StoreResult<Session> {
    let mut s: Session = serde_json::from_str(data).map_err(|e| StoreError::Internal(format!("session json: {e}")))?;
    if let Some(la) = last_activity {
        s.last_activity = la;
    }
    Ok(s)
}

fn opt_string(r: Reply) -> StoreResult<Option<String>> {
    match r {
        Reply::Nil => Ok(None),
        Reply::Bytes(b) => {
            String::from_utf8(b).map(Some).map_err(|_| StoreError::Internal("redis: reply is not UTF-8".into()))
        }
        Reply::Status(s) => Ok(Some(s)),
        Reply::Int(n) => Ok(Some(n.to_string())),
    }
}

fn string(r: Reply) -> StoreResult<String> {
    opt_string(r)?.ok_or_else(|| StoreError::Internal("redis: unexpected nil".into()))
}

fn unexpected(what: &str, reply: &[Reply]) -> StoreError {
    StoreError::Internal(format!("redis: unexpected reply to {what}: {reply:?}"))
}

// Errors, mapped as host/src/stores/redis.rs maps redis-rs's: a server that cannot be
// reached is `unavailable`, everything else `internal`.

/// `open` returned `Other`: Spin could not connect (refused, DNS, authentication).
pub fn connect_failed(detail: &str) -> StoreError {
    StoreError::Unavailable(format!("redis: {detail}"))
}

/// `open` returned `InvalidAddress`: the URL does not parse or its host is not in
/// `allowed_outbound_hosts`. A deployment mistake, not an outage.
pub fn invalid_address() -> StoreError {
    StoreError::Internal("redis: invalid address, or its host is not in allowed_outbound_hosts".into())
}

/// A command failed. Spin reports every failure as `Other(message)` (redis-rs's text), so an
/// I/O failure is told from a server's error reply by its wording.
pub fn command_failed(message: &str) -> StoreError {
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
    if GONE.iter().any(|g| m.contains(g)) {
        StoreError::Unavailable(format!("redis: {message}"))
    } else {
        StoreError::Internal(format!("redis: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::asm::auth::types::Device;

    fn session(expires_at: i64) -> Session {
        Session {
            id: "pub1".into(),
            token_hash: "ab12".into(),
            user_id: "u1".into(),
            ip_address: "1.2.3.4".into(),
            user_agent: "ua".into(),
            device: Device {
                browser: "Firefox".into(),
                browser_version: "128".into(),
                os: "Linux".into(),
                os_version: "".into(),
                category: "pc".into(),
                summary: "Firefox on Linux".into(),
            },
            location: "Local".into(),
            created_at: 10,
            last_activity: 20,
            expires_at,
        }
    }

    fn bytes(s: &str) -> Reply {
        Reply::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn sessions_are_stored_as_the_native_host_stores_them() {
        // The native host serialises wasmtime-bindgen's `Session` with serde: Rust field names.
        let json = serde_json::to_value(session(30)).unwrap();
        let expected = serde_json::json!({
            "id": "pub1", "token_hash": "ab12", "user_id": "u1", "ip_address": "1.2.3.4",
            "user_agent": "ua",
            "device": {"browser": "Firefox", "browser_version": "128", "os": "Linux",
                       "os_version": "", "category": "pc", "summary": "Firefox on Linux"},
            "location": "Local", "created_at": 10, "last_activity": 20, "expires_at": 30
        });
        assert_eq!(json, expected);
        let text = serde_json::to_string(&session(30)).unwrap();
        assert!(
            text.starts_with(r#"{"id":"pub1","token_hash":"ab12","user_id":"u1""#),
            "WIT field order, as natively: {text}"
        );
    }

    #[test]
    fn create_passes_the_native_keys_and_arguments() {
        let s = session(1_000);
        let cmd = create_session("asm:", &s, 3, 400).unwrap().unwrap();
        assert_eq!(cmd.name, "EVAL");
        assert_eq!(cmd.args[0], Arg::Bytes(q::CREATE_SESSION.as_bytes().to_vec()));
        assert_eq!(cmd.args[1], Arg::Int(2));
        assert_eq!(cmd.args[2], Arg::text("asm:session:ab12"));
        assert_eq!(cmd.args[3], Arg::text("asm:user-sessions:u1"));
        let Arg::Bytes(json) = &cmd.args[4] else { panic!() };
        assert_eq!(serde_json::from_slice::<Session>(json).unwrap(), s);
        assert_eq!(
            cmd.args[5..].to_vec(),
            vec![
                Arg::Int(600),
                Arg::text("ab12"),
                Arg::Int(1_000),
                Arg::Int(400),
                Arg::Int(20),
                Arg::Int(3),
                Arg::text("asm:session:")
            ]
        );
        assert_eq!(create_session("asm:", &s, 3, 1_000).unwrap(), None, "an expired session is not stored");
    }

    #[test]
    fn replies_decode() {
        let json = serde_json::to_string(&session(1_000)).unwrap();
        assert_eq!(evicted_ids(vec![bytes(&json), bytes(&json)]).unwrap(), vec!["pub1", "pub1"]);
        assert_eq!(evicted_ids(vec![]).unwrap(), Vec::<String>::new());
        assert!(evicted_ids(vec![Reply::Nil]).is_err());

        // get: the separately kept last activity wins, and expired sessions are not returned.
        let got = session_reply(vec![bytes(&json), bytes("77")], 999).unwrap().unwrap();
        assert_eq!(got.last_activity, 77);
        assert_eq!(session_reply(vec![bytes(&json), Reply::Nil], 999).unwrap().unwrap().last_activity, 20);
        assert_eq!(session_reply(vec![bytes(&json), bytes("77")], 1_000).unwrap(), None);
        assert_eq!(session_reply(vec![Reply::Nil, Reply::Nil], 0).unwrap(), None);
        assert!(session_reply(vec![bytes(&json), bytes("x")], 0).is_err());
        assert!(session_reply(vec![bytes("{")], 0).is_err());

        // list: pairs; a pair without data is skipped, a bad last activity ignored.
        let list =
            sessions_reply(vec![bytes(&json), bytes("5"), Reply::Nil, Reply::Nil, bytes(&json), bytes("x")]).unwrap();
        assert_eq!(list.iter().map(|s| s.last_activity).collect::<Vec<_>>(), vec![5, 20]);
        assert_eq!(sessions_reply(vec![]).unwrap(), vec![]);

        assert_eq!(
            attempts_reply(vec![Reply::Int(3), Reply::Int(900)]).unwrap(),
            Attempts { count: 3, retry_after_ms: 900 }
        );
        assert_eq!(attempts_reply(vec![Reply::Int(1), Reply::Int(-2)]).unwrap().retry_after_ms, 0);
        assert_eq!(attempts_reply(vec![Reply::Int(i64::MAX), Reply::Int(1)]).unwrap().count, u32::MAX);
        assert!(attempts_reply(vec![Reply::Int(1)]).is_err());
        assert_eq!(int_reply(vec![Reply::Int(1)]).unwrap(), 1);
        assert!(int_reply(vec![Reply::Status("OK".into())]).is_err());
        assert_eq!(u32_reply(vec![Reply::Int(4)]).unwrap(), 4);
        assert!(u32_reply(vec![Reply::Int(-1)]).is_err());
    }

    #[test]
    fn other_calls_pass_the_native_keys_and_arguments() {
        assert_eq!(
            get_session("p:", "h"),
            Command { name: "HMGET", args: vec![Arg::text("p:session:h"), Arg::text("data"), Arg::text("la")] }
        );
        let Touch::Eval(t) = touch_session("p:", "h", 50, 1_000, 400) else { panic!() };
        assert_eq!(t.args[1..], [Arg::Int(1), Arg::text("p:session:h"), Arg::Int(50), Arg::Int(600)]);
        assert_eq!(touch_session("p:", "h", 50, 400, 400), Touch::Delete("p:session:h".into()));
        let d = delete_session("p:", "u", "h");
        assert_eq!(
            d.args[1..],
            [Arg::Int(2), Arg::text("p:session:h"), Arg::text("p:user-sessions:u"), Arg::text("h")]
        );
        let d = delete_other_sessions("p:", "u", "");
        assert_eq!(d.args[1..], [Arg::Int(1), Arg::text("p:user-sessions:u"), Arg::text(""), Arg::text("p:session:")]);
        let l = list_sessions("p:", "u", 9);
        assert_eq!(l.args[0], Arg::Bytes(q::LIST_SESSIONS.as_bytes().to_vec()));
        assert_eq!(l.args[1..], [Arg::Int(1), Arg::text("p:user-sessions:u"), Arg::text("p:session:"), Arg::Int(9)]);
        let c = count_attempt("p:", "login:a@b", 0);
        assert_eq!(c.args[1..], [Arg::Int(1), Arg::text("p:attempts:login:a@b"), Arg::text("1")]);
        assert_eq!(count_attempt("p:", "k", u64::MAX).args[3], Arg::text(u64::MAX.to_string()));
        assert_eq!(uncount_attempt("p:", "k").args[1..], [Arg::Int(1), Arg::text("p:attempts:k")]);
        assert_eq!(attempts_key("p:", "k"), "p:attempts:k");
        assert_eq!(ping(), Command { name: "PING", args: vec![] });
    }

    #[test]
    fn errors_map_like_the_native_store() {
        assert!(matches!(command_failed("Connection refused (os error 111)"), StoreError::Unavailable(_)));
        assert!(matches!(command_failed("broken pipe"), StoreError::Unavailable(_)));
        assert!(matches!(
            command_failed("ERR user_script:1: Script attempted to access nonexistent global"),
            StoreError::Internal(_)
        ));
        assert!(matches!(
            command_failed("WRONGTYPE Operation against a key holding the wrong kind of value"),
            StoreError::Internal(_)
        ));
        assert!(matches!(connect_failed("refused"), StoreError::Unavailable(_)));
        assert!(matches!(invalid_address(), StoreError::Internal(_)));
    }
}
