//! The wasm layer: Spin's PostgreSQL and Redis clients as the drivers of the `asm-stores`
//! stores, and the `asm:auth` exports forwarded to those stores.

use crate::bindings::exports::asm::auth::{geo, hashing, keyring};
use crate::{pg, vars};
use asm_contract::*;
use asm_stores::geo::MaxMind;
use asm_stores::keyring::SecretKeys;
use asm_stores::postgres::{self as sql, Param, PostgresEvents, PostgresMailer, PostgresUsers, Rows, Value};
use asm_stores::postgres_sessions::PostgresSessions;
use asm_stores::redis::{self as kv, Arg, RedisSessions, Reply, Script};
use spin_sdk::{pg4, redis, variables};
use std::cell::RefCell;

struct Adapter;
crate::bindings::export!(Adapter with_types_in crate::bindings);

fn var(name: &str) -> Option<String> {
    variables::get(name).ok()
}

// One connection of each kind per instance (Spin gives each request a fresh instance; its
// PostgreSQL connections are pooled by the host, its Redis connections are not). A connection
// that failed as `unavailable` is dropped, so a reused instance reconnects.
thread_local! {
    static PG: RefCell<Option<pg4::Connection>> = const { RefCell::new(None) };
    static REDIS: RefCell<Option<redis::Connection>> = const { RefCell::new(None) };
    static GEO: RefCell<Option<Option<MaxMind>>> = const { RefCell::new(None) };
    static KEYS: RefCell<Option<SecretKeys>> = const { RefCell::new(None) };
}

// PostgreSQL

fn pg_error(e: pg4::PgError) -> StoreError {
    match e {
        pg4::PgError::ConnectionFailed(m) => pg::connection_failed(&m),
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(db)) => pg::db_error(&db.code, &db.extras, &db.message),
        pg4::PgError::QueryFailed(pg4::QueryError::Text(t)) => pg::query_failed(&t),
        pg4::PgError::BadParameter(m) | pg4::PgError::ValueConversionFailed(m) | pg4::PgError::Other(m) => {
            pg::other(&m)
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

fn parameters(params: Vec<Param>) -> Vec<pg4::ParameterValue> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Text(v) => pg4::ParameterValue::Str(v),
            Param::Uuid(v) => pg4::ParameterValue::Uuid(v),
            Param::Int(v) => pg4::ParameterValue::Int64(v),
            Param::Float(v) => pg4::ParameterValue::Floating64(v),
        })
        .collect()
}

struct SpinPg;

#[async_trait::async_trait]
impl sql::Driver for SpinPg {
    async fn query(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<Rows> {
        let set = with_pg(|c| c.query(sql, &parameters(params)))?;
        Ok(Rows {
            columns: set.columns.into_iter().map(|c| c.name).collect(),
            rows: set
                .rows
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|v| match v {
                            pg4::DbValue::Str(s) => Value::Text(s),
                            pg4::DbValue::Int64(n) => Value::Int(n),
                            pg4::DbValue::Int32(n) => Value::Int(n.into()),
                            pg4::DbValue::DbNull => Value::Null,
                            other => Value::Other(format!("{other:?}")),
                        })
                        .collect()
                })
                .collect(),
        })
    }

    async fn execute(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<()> {
        with_pg(|c| c.execute(sql, &parameters(params))).map(drop)
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

fn run(name: &str, args: Vec<redis::RedisParameter>) -> StoreResult<Vec<Reply>> {
    REDIS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(open_redis()?);
        }
        let result = slot.as_ref().expect("opened above").execute(name, &args).map_err(|e| match e {
            redis::Error::Other(m) => crate::redis::command_failed(&m),
            redis::Error::TooManyConnections => crate::redis::connect_failed("too many connections"),
            redis::Error::InvalidAddress => crate::redis::invalid_address(),
            redis::Error::TypeError => crate::redis::command_failed("a reply of a type Spin does not pass on"),
        });
        if matches!(result, Err(StoreError::Unavailable(_))) {
            *slot = None;
        }
        Ok(result?
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

fn parameter(a: Arg) -> redis::RedisParameter {
    match a {
        Arg::Int(n) => redis::RedisParameter::Int64(n),
        Arg::Text(s) => redis::RedisParameter::Binary(s.into_bytes()),
    }
}

struct SpinRedis;

#[async_trait::async_trait]
impl kv::Driver for SpinRedis {
    /// `EVALSHA`, and `EVAL` only when the server answers `NOSCRIPT`: Spin opens a connection
    /// per request, but Redis keeps loaded scripts server-side across connections, so after the
    /// first request each script costs its digest rather than its whole source (parsed anew).
    async fn eval(&self, script: &'static Script, keys: Vec<String>, args: Vec<Arg>) -> StoreResult<Vec<Reply>> {
        let mut tail = vec![redis::RedisParameter::Int64(keys.len() as i64)];
        tail.extend(keys.into_iter().map(|k| redis::RedisParameter::Binary(k.into_bytes())));
        tail.extend(args.into_iter().map(parameter));
        let mut by_digest = vec![redis::RedisParameter::Binary(script.sha1().as_bytes().to_vec())];
        by_digest.extend(tail.iter().cloned());
        match run("EVALSHA", by_digest) {
            Err(StoreError::Internal(m)) if crate::redis::is_noscript(&m) => {
                let mut whole = vec![redis::RedisParameter::Binary(script.source.as_bytes().to_vec())];
                whole.extend(tail);
                run("EVAL", whole)
            }
            other => other,
        }
    }

    async fn command(&self, name: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Reply>> {
        run(name, args.into_iter().map(parameter).collect())
    }
}

// The exports

mod stores {
    use super::*;

    pub fn user_store() -> PostgresUsers<SpinPg> {
        PostgresUsers::new(SpinPg)
    }

    /// Mail goes into the outbox table of the users' database. Nothing runs between requests
    /// here, so a native host (or any worker on that database) delivers it.
    pub fn mailer() -> PostgresMailer<SpinPg> {
        PostgresMailer::new(SpinPg)
    }

    /// Events go into the users' database; with the variable `webhooks` on, each with its
    /// delivery, held until its hold runs out (nothing here can release it sooner), for a
    /// native host with WEBHOOK_URL on that database to deliver.
    pub fn events() -> PostgresEvents<SpinPg> {
        let on = var(vars::WEBHOOKS).is_some_and(|v| matches!(v.trim(), "on" | "true" | "1"));
        PostgresEvents::new(SpinPg, on)
    }

    /// Redis when `redis_url` is set, else PostgreSQL (sweeping ended sessions now and then,
    /// since nothing runs between requests here).
    pub fn session_store() -> Box<dyn SessionStore> {
        match crate::optional(var(vars::REDIS_URL)) {
            Some(_) => Box::new(RedisSessions::new(SpinRedis, &crate::key_prefix(var(vars::REDIS_KEY_PREFIX)))),
            None => Box::new(PostgresSessions::new(SpinPg, true)),
        }
    }
}

macro_rules! export_stores {
    ($($(#[$trait_doc:meta])* $module:ident $Trait:ident $label:literal {
        $($(#[$doc:meta])* fn $op:ident($($arg:ident: $ty:ident),*) -> $ret:ty;)*
    })*) => {$(
        impl crate::bindings::exports::asm::auth::$module::Guest for Adapter {
            $(
                fn $op($($arg: asm_contract::wit_type!($ty)),*) -> StoreResult<$ret> {
                    // Spin's clients answer before they return, so the store never waits.
                    complete(stores::$module().$op($(<$ty>::from($arg)),*))
                }
            )*
        }
    )*};
}

with_store_operations!(export_stores);

impl geo::Guest for Adapter {
    fn lookup(ip: String) -> Option<Location> {
        GEO.with(|cell| {
            let mut slot = cell.borrow_mut();
            let db = slot.get_or_insert_with(|| {
                let path = crate::geoip_path(var(vars::GEOIP_DB))?;
                match std::fs::read(&path) {
                    Ok(bytes) => MaxMind::from_bytes(bytes).or_else(|| {
                        eprintln!("geoip: {path} is not a MaxMind DB");
                        None
                    }),
                    Err(e) => {
                        eprintln!("geoip: cannot read {path}: {e}");
                        None
                    }
                }
            });
            db.as_ref()?.lookup(&ip)
        })
    }
}

// Keys

/// The keys from Spin's variables (`secret_key`, `previous_secret_keys`). A MAC cannot be made
/// without one, so a missing or bad key stops the request (500) and says which variable.
fn with_keys<T>(f: impl FnOnce(&SecretKeys) -> T) -> T {
    KEYS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let keys = slot.get_or_insert_with(|| {
            let current = crate::required(vars::SECRET_KEY, var(vars::SECRET_KEY)).unwrap_or_else(|e| panic!("{e}"));
            let previous = var(vars::PREVIOUS_SECRET_KEYS).unwrap_or_default();
            SecretKeys::parse(&current, &previous).unwrap_or_else(|e| panic!("the Spin variable `secret_key`: {e}"))
        });
        f(keys)
    })
}

/// Every request gets a turn at once: Spin runs each request in an instance of its own and keeps
/// nothing between them that could count turns. (Bound a Spin deployment's concurrency in front
/// of it, or in Spin's own settings; docs/SECURITY.md, "A flood of sign-ins".)
impl hashing::Guest for Adapter {
    fn begin() -> bool {
        true
    }

    fn end() {}
}

impl keyring::Guest for Adapter {
    fn sign(purpose: String, message: Vec<u8>) -> Vec<u8> {
        with_keys(|k| k.sign(&purpose, &message))
    }

    fn verify(purpose: String, message: Vec<u8>, tag: Vec<u8>) -> bool {
        with_keys(|k| k.verify(&purpose, &message, &tag))
    }

    fn seal(purpose: String, plaintext: Vec<u8>) -> Vec<u8> {
        with_keys(|k| k.seal(&purpose, &plaintext))
    }

    fn open(purpose: String, sealed: Vec<u8>) -> Option<Vec<u8>> {
        with_keys(|k| k.open(&purpose, &sealed))
    }
}
