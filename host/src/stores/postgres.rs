//! The sqlx driver of the PostgreSQL user store (`asm_stores::postgres`). Schema in `migrations/`.

use asm_contract::{StoreError, StoreResult};
use asm_stores::postgres::{self as pg, Driver, Param, PostgresUsers, Rows, Value};
use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions, PgRow};
use sqlx::{Column, Postgres, Row, TypeInfo};
use std::time::Duration;

pub type PgUsers = PostgresUsers<Pg>;

/// The user store on a pool that connects lazily: the host starts while PostgreSQL is down and
/// connects when it is back.
pub fn connect(url: &str, timeout: Duration, max_connections: u32) -> anyhow::Result<PgUsers> {
    Ok(PostgresUsers::new(driver(url, timeout, max_connections)?))
}

/// The driver alone (tests wrap it).
pub fn driver(url: &str, timeout: Duration, max_connections: u32) -> anyhow::Result<Pg> {
    let pool = PgPoolOptions::new().max_connections(max_connections).acquire_timeout(timeout).connect_lazy(url)?;
    Ok(Pg { pool })
}

/// Cheap to clone: the pool is shared (the user store and, without Redis, the session store).
#[derive(Clone)]
pub struct Pg {
    pool: PgPool,
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

fn bind(sql: &'static str, params: Vec<Param>) -> StoreResult<Query<'static>> {
    let mut q = sqlx::query(sql);
    for p in params {
        q = match p {
            Param::Text(s) => q.bind(s),
            Param::Uuid(s) => q.bind(
                uuid::Uuid::parse_str(&s).map_err(|e| StoreError::Internal(format!("postgres: uuid {s:?}: {e}")))?,
            ),
            Param::Int(n) => q.bind(n),
            Param::Float(f) => q.bind(f),
        };
    }
    Ok(q)
}

#[async_trait::async_trait]
impl Driver for Pg {
    async fn query(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<Rows> {
        table(bind(sql, params)?.fetch_all(&self.pool).await.map_err(error)?)
    }

    async fn execute(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<()> {
        bind(sql, params)?.execute(&self.pool).await.map_err(error).map(drop)
    }

    /// Not kept prepared: PostgreSQL plans an unnamed statement with its values each time.
    async fn query_planned_per_call(&self, sql: &'static str, params: Vec<Param>) -> StoreResult<Rows> {
        table(bind(sql, params)?.persistent(false).fetch_all(&self.pool).await.map_err(error)?)
    }
}

fn table(rows: Vec<PgRow>) -> StoreResult<Rows> {
    let columns = rows.first().map(|r| r.columns().iter().map(|c| c.name().to_string()).collect());
    Ok(Rows { columns: columns.unwrap_or_default(), rows: rows.iter().map(values).collect::<StoreResult<_>>()? })
}

fn values(row: &PgRow) -> StoreResult<Vec<Value>> {
    let get = |e: sqlx::Error| StoreError::Internal(format!("postgres row: {e}"));
    row.columns()
        .iter()
        .map(|c| {
            let i = c.ordinal();
            Ok(match c.type_info().name() {
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                    row.try_get::<Option<String>, _>(i).map_err(get)?.map_or(Value::Null, Value::Text)
                }
                "INT8" => row.try_get::<Option<i64>, _>(i).map_err(get)?.map_or(Value::Null, Value::Int),
                "INT4" => row.try_get::<Option<i32>, _>(i).map_err(get)?.map_or(Value::Null, |n| Value::Int(n.into())),
                other => Value::Other(other.to_string()),
            })
        })
        .collect()
}

/// Unique violations become conflicts naming the field; a database that cannot be reached is
/// `unavailable`; everything else is internal.
fn error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => pg::db_error(db.code().as_deref().unwrap_or(""), db.constraint(), &e.to_string()),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("postgres: {e}")),
        _ => StoreError::Internal(format!("postgres: {e}")),
    }
}
