//! The wasm layer: the `asm:auth` exports on Spin's PostgreSQL, Redis, variables and files.
//! Everything decided here is decided in the plain modules; this file only calls Spin.

use crate::bindings::exports::asm::auth::geo::{self, Location};
use crate::bindings::exports::asm::auth::session_store;
use crate::bindings::exports::asm::auth::types::{Attempts, LoginAttempt, LoginPage, NewUser, Session, User};
use crate::bindings::exports::asm::auth::user_store;
use crate::pg::{Cell, Param, Rows, Statement};
use crate::redis::{Arg, Command, Reply, Touch};
use crate::{StoreError, StoreResult, vars};
use spin_sdk::{pg4, redis, variables};
use std::cell::RefCell;

struct Adapter;
crate::bindings::export!(Adapter with_types_in crate::bindings);

fn var(name: &str) -> Option<String> {
    variables::get(name).ok()
}

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_millis() as i64
}

// One connection of each kind per instance (Spin gives each request a fresh instance; its
// PostgreSQL connections are pooled by the host, its Redis connections are not). A connection
// that failed as `unavailable` is dropped, so a reused instance reconnects.
thread_local! {
    static PG: RefCell<Option<pg4::Connection>> = const { RefCell::new(None) };
    static REDIS: RefCell<Option<redis::Connection>> = const { RefCell::new(None) };
    static GEO: RefCell<Option<Option<maxminddb::Reader<Vec<u8>>>>> = const { RefCell::new(None) };
}

// PostgreSQL

fn pg_error(e: pg4::PgError) -> StoreError {
    match e {
        pg4::PgError::ConnectionFailed(m) => crate::pg::connection_failed(&m),
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(db)) => {
            crate::pg::db_error(&db.code, &db.extras, &db.message)
        }
        pg4::PgError::QueryFailed(pg4::QueryError::Text(t)) => crate::pg::query_failed(&t),
        pg4::PgError::BadParameter(m) | pg4::PgError::ValueConversionFailed(m) | pg4::PgError::Other(m) => {
            crate::pg::other(&m)
        }
    }
}

fn with_pg<T>(f: impl FnOnce(&pg4::Connection) -> Result<T, pg4::PgError>) -> StoreResult<T> {
    PG.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let url = crate::required(vars::DB_URL, var(vars::DB_URL))?;
            *slot = Some(pg4::Connection::open(&url).map_err(pg_error)?);
        }
        let result = f(slot.as_ref().expect("opened above")).map_err(pg_error);
        if matches!(result, Err(StoreError::Unavailable(_))) {
            *slot = None;
        }
        result
    })
}

fn params(s: &Statement) -> Vec<pg4::ParameterValue> {
    s.params
        .iter()
        .map(|p| match p {
            Param::Str(v) => pg4::ParameterValue::Str(v.clone()),
            Param::Uuid(v) => pg4::ParameterValue::Uuid(v.clone()),
            Param::F64(v) => pg4::ParameterValue::Floating64(*v),
            Param::I64(v) => pg4::ParameterValue::Int64(*v),
        })
        .collect()
}

fn query(s: &Statement) -> StoreResult<Rows> {
    let set = with_pg(|c| c.query(s.sql, &params(s)))?;
    Ok(Rows {
        columns: set.columns.into_iter().map(|c| c.name).collect(),
        rows: set
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        pg4::DbValue::Str(s) => Cell::Str(s),
                        pg4::DbValue::Int64(n) => Cell::Int(n),
                        pg4::DbValue::DbNull => Cell::Null,
                        other => Cell::Other(format!("{other:?}")),
                    })
                    .collect()
            })
            .collect(),
    })
}

fn execute(s: &Statement) -> StoreResult<()> {
    with_pg(|c| c.execute(s.sql, &params(s))).map(drop)
}

impl user_store::Guest for Adapter {
    fn create_user(u: NewUser) -> StoreResult<User> {
        crate::pg::created_user(&query(&crate::pg::create_user(&u))?)
    }

    fn find_user_by_email(email: String) -> StoreResult<Option<User>> {
        crate::pg::first_user(&query(&crate::pg::find_user_by_email(&email))?)
    }

    fn find_user_by_id(id: String) -> StoreResult<Option<User>> {
        let Some(s) = crate::pg::find_user_by_id(&id) else { return Ok(None) };
        crate::pg::first_user(&query(&s)?)
    }

    fn record_login(user_id: String, at: i64) -> StoreResult<()> {
        crate::pg::record_login(&user_id, at).map_or(Ok(()), |s| execute(&s))
    }

    fn update_password(user_id: String, password_hash: String) -> StoreResult<()> {
        crate::pg::update_password(&user_id, &password_hash).map_or(Ok(()), |s| execute(&s))
    }

    fn record_login_attempt(attempt: LoginAttempt) -> StoreResult<()> {
        crate::pg::record_login_attempt(&attempt).map_or(Ok(()), |s| execute(&s))
    }

    fn list_login_attempts(user_id: String, offset: u32, limit: u32) -> StoreResult<LoginPage> {
        let Some(s) = crate::pg::list_login_attempts(&user_id, offset, limit) else {
            return Ok(LoginPage { attempts: vec![], total: 0 });
        };
        let (attempts, mut total) = crate::pg::login_page(&query(&s)?, &user_id)?;
        if attempts.is_empty() && offset > 0 {
            let count = crate::pg::count_login_attempts(&user_id).expect("a uuid, checked above");
            total = crate::pg::count(&query(&count)?)?;
        }
        Ok(LoginPage { attempts, total: crate::pg::total(total) })
    }

    fn ping() -> StoreResult<()> {
        execute(&crate::pg::ping())
    }
}

// Redis

fn open_redis() -> StoreResult<redis::Connection> {
    let url = crate::required(vars::REDIS_URL, var(vars::REDIS_URL))?;
    redis::Connection::open(&url).map_err(|e| match e {
        redis::Error::InvalidAddress => crate::redis::invalid_address(),
        redis::Error::TooManyConnections => crate::redis::connect_failed("too many connections"),
        redis::Error::TypeError => crate::redis::command_failed("type error"),
        redis::Error::Other(m) => crate::redis::connect_failed(&m),
    })
}

fn run(cmd: &Command) -> StoreResult<Vec<Reply>> {
    REDIS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(open_redis()?);
        }
        let args: Vec<redis::RedisParameter> = cmd
            .args
            .iter()
            .map(|a| match a {
                Arg::Int(n) => redis::RedisParameter::Int64(*n),
                Arg::Bytes(b) => redis::RedisParameter::Binary(b.clone()),
            })
            .collect();
        let result = slot.as_ref().expect("opened above").execute(cmd.name, &args).map_err(|e| match e {
            redis::Error::Other(m) => crate::redis::command_failed(&m),
            redis::Error::TooManyConnections => crate::redis::connect_failed("too many connections"),
            redis::Error::InvalidAddress => crate::redis::invalid_address(),
            redis::Error::TypeError => crate::redis::command_failed("a reply of a type Spin does not pass on"),
        });
        if matches!(result, Err(StoreError::Unavailable(_))) {
            *slot = None;
        }
        let replies = result?;
        Ok(replies
            .into_iter()
            .map(|r| match r {
                redis::RedisResult::Nil => Reply::Nil,
                redis::RedisResult::Status(s) => Reply::Status(s),
                redis::RedisResult::Int64(n) => Reply::Int(n),
                redis::RedisResult::Binary(b) => Reply::Bytes(b),
            })
            .collect())
    })
}

fn del(key: String) -> StoreResult<()> {
    run(&Command { name: "DEL", args: vec![Arg::Bytes(key.into_bytes())] }).map(drop)
}

fn prefix() -> String {
    crate::key_prefix(var(vars::REDIS_KEY_PREFIX))
}

impl session_store::Guest for Adapter {
    fn create_session(session: Session, max_sessions: u32) -> StoreResult<Vec<String>> {
        match crate::redis::create_session(&prefix(), &session, max_sessions, now_ms())? {
            Some(cmd) => crate::redis::evicted_ids(run(&cmd)?),
            None => Ok(Vec::new()),
        }
    }

    fn get_session(token_hash: String) -> StoreResult<Option<Session>> {
        crate::redis::session_reply(run(&crate::redis::get_session(&prefix(), &token_hash))?, now_ms())
    }

    fn touch_session(token_hash: String, at: i64, keep_until: i64) -> StoreResult<bool> {
        match crate::redis::touch_session(&prefix(), &token_hash, at, keep_until, now_ms()) {
            Touch::Delete(key) => del(key).map(|()| false),
            Touch::Eval(cmd) => crate::redis::int_reply(run(&cmd)?).map(|n| n == 1),
        }
    }

    fn delete_session(user_id: String, token_hash: String) -> StoreResult<bool> {
        crate::redis::int_reply(run(&crate::redis::delete_session(&prefix(), &user_id, &token_hash))?).map(|n| n > 0)
    }

    fn delete_other_sessions(user_id: String, keep_token_hash: String) -> StoreResult<u32> {
        crate::redis::u32_reply(run(&crate::redis::delete_other_sessions(&prefix(), &user_id, &keep_token_hash))?)
    }

    fn list_sessions(user_id: String) -> StoreResult<Vec<Session>> {
        crate::redis::sessions_reply(run(&crate::redis::list_sessions(&prefix(), &user_id, now_ms()))?)
    }

    fn count_attempt(key: String, window_ms: u64) -> StoreResult<Attempts> {
        crate::redis::attempts_reply(run(&crate::redis::count_attempt(&prefix(), &key, window_ms))?)
    }

    fn uncount_attempt(key: String) -> StoreResult<()> {
        crate::redis::int_reply(run(&crate::redis::uncount_attempt(&prefix(), &key))?).map(drop)
    }

    fn reset_attempts(key: String) -> StoreResult<()> {
        del(crate::redis::attempts_key(&prefix(), &key))
    }

    fn ping() -> StoreResult<()> {
        run(&crate::redis::ping()).map(drop)
    }
}

// GeoIP

impl geo::Guest for Adapter {
    fn lookup(ip: String) -> Option<Location> {
        GEO.with(|cell| {
            let mut slot = cell.borrow_mut();
            let reader = slot.get_or_insert_with(|| {
                let path = crate::geoip_path(var(vars::GEOIP_DB))?;
                match std::fs::read(&path) {
                    Ok(bytes) => crate::geo::open(bytes).or_else(|| {
                        eprintln!("geoip: {path} is not a MaxMind DB");
                        None
                    }),
                    Err(e) => {
                        eprintln!("geoip: cannot read {path}: {e}");
                        None
                    }
                }
            });
            crate::geo::lookup(reader.as_ref()?, &ip)
        })
    }
}
