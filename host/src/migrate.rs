//! `asm migrate`: the PostgreSQL schema, embedded from `migrations/` at build time.
//! Every migration is reversible (`.up.sql` and `.down.sql`).

use crate::config::{MigrateAction, MigrateArgs, redact};
use anyhow::{Context as _, bail};
use sqlx::migrate::{Migrate, MigrateDatabase, Migrator};
use sqlx::{PgPool, Postgres};
use std::path::Path;

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    if let MigrateAction::Create { name } = &args.action {
        return create(&args.dir, name);
    }
    let url = args
        .database_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(crate::config::DEFAULT_DATABASE_URL);
    if url.starts_with("sqlite:") {
        // The embedded store keeps its own schema (migrations/sqlite) and applies it at start.
        return match args.action {
            MigrateAction::Up => {
                crate::stores::sqlite::SqliteStore::open(url, std::time::Duration::from_secs(5)).await?;
                println!("up to date: {url}");
                Ok(())
            }
            _ => bail!("down, status and force are for PostgreSQL; the SQLite store migrates itself at start"),
        };
    }
    let pool = connect(url, matches!(args.action, MigrateAction::Up)).await?;
    match args.action {
        MigrateAction::Up => {
            MIGRATOR.run(&pool).await?;
            println!("up to date at version {}", current_version(&pool).await?);
        }
        MigrateAction::Down { n } => {
            let target = down_target(&pool, n).await?;
            MIGRATOR.undo(&pool, target).await?;
            println!("reverted to version {target}");
        }
        MigrateAction::Status => status(&pool).await?,
        MigrateAction::Force { version } => {
            force(&pool, version).await?;
            println!("forced to version {version}");
        }
        MigrateAction::Create { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// Connects, creating the database first when `create` is set and it does not exist.
pub async fn connect(url: &str, create: bool) -> anyhow::Result<PgPool> {
    if create && !Postgres::database_exists(url).await.with_context(|| format!("cannot reach {}", redact(url)))? {
        Postgres::create_database(url).await?;
        println!("created database {}", redact(url));
    }
    PgPool::connect(url).await.with_context(|| format!("cannot connect to {}", redact(url)))
}

async fn applied(pool: &PgPool) -> anyhow::Result<Vec<i64>> {
    let mut conn = pool.acquire().await?;
    conn.ensure_migrations_table().await?;
    let mut versions: Vec<i64> = conn.list_applied_migrations().await?.iter().map(|m| m.version).collect();
    versions.sort_unstable();
    Ok(versions)
}

async fn current_version(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(applied(pool).await?.last().copied().unwrap_or(0))
}

/// The version left after reverting the newest `n` applied migrations (0: none left).
async fn down_target(pool: &PgPool, n: usize) -> anyhow::Result<i64> {
    let versions = applied(pool).await?;
    if n == 0 {
        bail!("down needs a count of at least 1");
    }
    Ok(if n >= versions.len() { 0 } else { versions[versions.len() - n - 1] })
}

async fn status(pool: &PgPool) -> anyhow::Result<()> {
    let applied = applied(pool).await?;
    let dirty: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE NOT success").fetch_all(pool).await?;
    for m in MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()) {
        let state = if dirty.contains(&m.version) {
            "dirty"
        } else if applied.contains(&m.version) {
            "applied"
        } else {
            "pending"
        };
        println!("{:>14}  {:<8} {}", m.version, state, m.description);
    }
    Ok(())
}

/// Marks every migration up to `version` applied and every later one not applied, running no SQL.
async fn force(pool: &PgPool, version: i64) -> anyhow::Result<()> {
    if version != 0 && !MIGRATOR.iter().any(|m| m.version == version) {
        bail!("no migration has version {version}");
    }
    applied(pool).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version > $1 OR NOT success")
        .bind(version)
        .execute(&mut *tx)
        .await?;
    for m in MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration() && m.version <= version) {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, 0) ON CONFLICT (version) DO NOTHING",
        )
        .bind(m.version)
        .bind(&*m.description)
        .bind(&*m.checksum)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn create(dir: &Path, name: &str) -> anyhow::Result<()> {
    let slug: String =
        name.trim().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if slug.trim_matches('_').is_empty() {
        bail!("a migration needs a name made of letters or digits");
    }
    std::fs::create_dir_all(dir)?;
    let version = utc_stamp();
    for (kind, text) in [("up", "-- What this migration changes, and why.\n"), ("down", "-- Undo the up migration.\n")]
    {
        let path = dir.join(format!("{version}_{slug}.{kind}.sql"));
        std::fs::write(&path, text)?;
        println!("created {}", path.display());
    }
    Ok(())
}

/// `YYYYMMDDHHMMSS` in UTC, the version format of the existing migrations.
fn utc_stamp() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now.chars().filter(char::is_ascii_digit).take(14).collect()
}
