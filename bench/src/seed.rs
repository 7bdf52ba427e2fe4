//! The stores around a run: the fresh PostgreSQL database, users and sessions made over HTTP,
//! sessions written straight into Redis in pipelines (the layout of `asm_stores::redis`),
//! and the clean-up of both.

use crate::load;
use anyhow::{Context as _, bail};
use asm_contract::{TokenHash, route_tag};
use asm_stores::redis::Keys;
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection as _;
use std::net::SocketAddr;

/// Commands per Redis pipeline when writing sessions.
const PIPELINE_COMMANDS: usize = 10_000;
/// Pipelines in flight at once on the multiplexed connection.
const PIPELINES_IN_FLIGHT: usize = 4;
/// The host's default session lifetime: written sessions live as long as real ones.
const SESSION_LIFETIME_MS: i64 = 24 * 3600 * 1000;
/// Every bench user's password (long enough, not a common one).
pub const PASSWORD: &str = "bench-harness vaulted 7319 plum";

// ---- PostgreSQL ---------------------------------------------------------------------------

/// Creates an empty database (the peer's; ours is made by `asm migrate up`).
pub async fn create_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(&format!("{server_url}/postgres")).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Drops the run's database, closing any connection still open to it.
pub async fn drop_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(&format!("{server_url}/postgres")).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

pub async fn postgres_version(server_url: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(&format!("{server_url}/postgres"))
        .await
        .with_context(|| format!("PostgreSQL does not answer at {server_url} (scripts/services.sh start)"))?;
    let v: String = sqlx::query_scalar("SHOW server_version").fetch_one(&mut conn).await?;
    conn.close().await?;
    Ok(v)
}

// ---- Redis --------------------------------------------------------------------------------

pub async fn redis(addr: &str) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{addr}/0"))?;
    client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("Redis does not answer at {addr} (scripts/services.sh start)"))
}

/// Scripts Redis has run (EVAL and EVALSHA calls, INFO commandstats): every operation of the
/// session store is one, so this counts round trips (the commands a script runs inside are
/// counted apart, under their own names, and left out).
pub async fn redis_calls(conn: &mut MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await?;
    Ok(info
        .lines()
        .filter(|l| l.starts_with("cmdstat_eval:") || l.starts_with("cmdstat_evalsha:"))
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum())
}

pub async fn redis_version(conn: &mut MultiplexedConnection) -> anyhow::Result<String> {
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    Ok(info.lines().find_map(|l| l.strip_prefix("redis_version:")).unwrap_or("?").trim().to_string())
}

/// Deletes every key under `prefix` (SCAN + UNLINK); returns how many.
pub async fn delete_keys(conn: &mut MultiplexedConnection, prefix: &str) -> anyhow::Result<u64> {
    let pattern = format!("{prefix}*");
    let (mut cursor, mut deleted) = (0u64, 0u64);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            deleted += redis::cmd("UNLINK").arg(&keys).query_async::<u64>(conn).await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// The stored JSON of the session behind `token`, as the host wrote it at login.
pub async fn stored_session(conn: &mut MultiplexedConnection, prefix: &str, token: &str) -> anyhow::Result<Value> {
    let parsed = asm_guest::token::SessionToken::parse(token).context("the login gave a token of another shape")?;
    let key = Keys::new(prefix).session(&parsed.hash()).context("the token carries no routing tag")?;
    let data: Option<String> = redis::cmd("HGET").arg(&key).arg("data").query_async(conn).await?;
    let data = data.with_context(|| format!("no session at {key}: is the Redis layout still asm_stores::redis?"))?;
    Ok(serde_json::from_str(&data)?)
}

/// Writes sessions the way the host's CREATE_SESSION script does (HSET data + la + uid, PEXPIRE,
/// ZADD to the user's index, PEXPIREAT on the index), in pipelines of 10,000 commands.
/// `owners` yields (user id, sessions for that user); `template` is a stored session whose
/// device, address and user agent every written one copies. Returns how many were written.
pub async fn write_sessions(
    conn: &MultiplexedConnection,
    prefix: &str,
    template: &Value,
    tag: &str,
    owners: impl Iterator<Item = (String, usize)>,
) -> anyhow::Result<u64> {
    let now = now_ms();
    let expires = now + SESSION_LIFETIME_MS;
    let mut session = template.clone();
    let mut pipe = redis::pipe();
    let (mut commands, mut written) = (0usize, 0u64);
    let mut in_flight = tokio::task::JoinSet::new();
    let keys = Keys::new(prefix);
    for (user_id, count) in owners {
        let index = keys.index(&user_id);
        for _ in 0..count {
            let hash = TokenHash::from(format!(
                "{}.{}",
                route_tag(&user_id),
                hex::encode(Sha256::digest(format!("{tag}:{written}")))
            ));
            session["id"] = json!(format!("{tag}-{written}"));
            session["token_hash"] = json!(hash.as_str());
            session["user_id"] = json!(user_id);
            session["created_at"] = json!(now);
            session["last_activity"] = json!(now);
            session["expires_at"] = json!(expires);
            let key = keys.session(&hash).expect("routed above");
            let data = session.to_string();
            pipe.cmd("HSET").arg(&key).arg("data").arg(data).arg("la").arg(now).arg("uid").arg(&user_id).ignore();
            pipe.cmd("PEXPIRE").arg(&key).arg(SESSION_LIFETIME_MS).ignore();
            pipe.cmd("ZADD").arg(&index).arg(expires).arg(hash.as_str()).ignore();
            commands += 3;
            written += 1;
        }
        pipe.cmd("PEXPIREAT").arg(&index).arg(expires).ignore();
        commands += 1;
        if commands >= PIPELINE_COMMANDS {
            send(&mut in_flight, conn, std::mem::replace(&mut pipe, redis::pipe())).await?;
            commands = 0;
        }
    }
    if commands > 0 {
        send(&mut in_flight, conn, pipe).await?;
    }
    while let Some(r) = in_flight.join_next().await {
        r??;
    }
    Ok(written)
}

async fn send(
    in_flight: &mut tokio::task::JoinSet<redis::RedisResult<()>>,
    conn: &MultiplexedConnection,
    pipe: redis::Pipeline,
) -> anyhow::Result<()> {
    while in_flight.len() >= PIPELINES_IN_FLIGHT {
        in_flight.join_next().await.expect("a pipeline is in flight")??;
    }
    let mut conn = conn.clone();
    in_flight.spawn(async move { pipe.query_async::<()>(&mut conn).await });
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

// ---- Over HTTP ----------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
}

/// Registers `n` users named after `tag`, a few at a time (each costs one password hash).
pub async fn register_users(addr: SocketAddr, tag: &str, n: usize) -> anyhow::Result<Vec<User>> {
    let emails: Vec<String> = (0..n).map(|i| format!("{tag}{i}@bench.example.com")).collect();
    let replies = in_parallel(
        emails
            .iter()
            .map(|email| register_body(email))
            .map(|body| move || async move { load::once(addr, load::post_json(addr, "/auth/register", body)).await }),
    )
    .await?;
    let mut users = Vec::new();
    for ((status, _, body), email) in replies.into_iter().zip(emails) {
        if status != 201 {
            bail!("registering {email}: {status} {}", String::from_utf8_lossy(&body));
        }
        let v: Value = serde_json::from_slice(&body)?;
        let id = v["data"]["id"].as_str().context("register answered without data.id")?.to_string();
        users.push(User { id, email });
    }
    Ok(users)
}

/// The register body for an email: the username is the email's local part.
pub fn register_body(email: &str) -> String {
    let username = email.split('@').next().unwrap_or(email);
    json!({ "email": email, "username": username, "password": PASSWORD, "full_name": "Bench User" }).to_string()
}

pub fn login_body(email: &str) -> String {
    json!({ "email": email, "password": PASSWORD }).to_string()
}

/// A login with a wrong password for `local`@bench.example.com (an email with no account).
pub fn wrong_login_body(local: &str) -> String {
    json!({ "email": format!("{local}@bench.example.com"), "password": "not the password" }).to_string()
}

/// Logs each email in once over HTTP; returns the session tokens, in order.
pub async fn log_in(addr: SocketAddr, emails: &[String]) -> anyhow::Result<Vec<String>> {
    let replies = in_parallel(emails.iter().map(|email| {
        let body = login_body(email);
        move || async move { load::once(addr, load::post_json(addr, "/auth/login", body)).await }
    }))
    .await?;
    replies
        .into_iter()
        .zip(emails)
        .map(|((status, headers, body), email)| {
            if status != 200 {
                bail!("logging in {email}: {status} {}", String::from_utf8_lossy(&body));
            }
            headers
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|c| c.strip_prefix("session_token="))
                .and_then(|c| c.split(';').next())
                .map(str::to_string)
                .context("login answered without a session cookie")
        })
        .collect()
}

// ---- The peer (Better Auth, bench/peers/better-auth) -------------------------------------

/// The peer's session cookie: its name.
pub const PEER_COOKIE: &str = "better-auth.session_token";

/// Signs `n` users up on the peer and then in; returns (email, the `name=value` cookie pair of
/// the sign-in), in order. Its sign-up also signs in; the sign-in is the one kept, as ours.
pub async fn peer_users(addr: SocketAddr, tag: &str, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let emails: Vec<String> = (0..n).map(|i| format!("{tag}{i}@bench.example.com")).collect();
    let replies = in_parallel(emails.iter().map(|email| {
        let body = json!({ "email": email, "password": PASSWORD, "name": "Bench User" }).to_string();
        move || async move { load::once(addr, load::post_json(addr, "/api/auth/sign-up/email", body)).await }
    }))
    .await?;
    for ((status, _, body), email) in replies.iter().zip(&emails) {
        if *status != 200 {
            bail!("signing {email} up on the peer: {status} {}", String::from_utf8_lossy(body));
        }
    }
    let replies = in_parallel(emails.iter().map(|email| {
        let body = peer_login_body(email);
        move || async move { load::once(addr, load::post_json(addr, "/api/auth/sign-in/email", body)).await }
    }))
    .await?;
    replies
        .into_iter()
        .zip(emails)
        .map(|((status, headers, body), email)| {
            if status != 200 {
                bail!("signing {email} in on the peer: {status} {}", String::from_utf8_lossy(&body));
            }
            let cookie = headers
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with(&format!("{PEER_COOKIE}=")))
                .and_then(|c| c.split(';').next())
                .map(str::to_string)
                .context("the peer's sign-in set no session cookie")?;
            Ok((email, cookie))
        })
        .collect()
}

pub fn peer_login_body(email: &str) -> String {
    json!({ "email": email, "password": PASSWORD }).to_string()
}

/// Runs the calls four at a time and returns their results in order.
async fn in_parallel<F, Fut, T>(calls: impl Iterator<Item = F>) -> anyhow::Result<Vec<T>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut out: Vec<Option<T>> = Vec::new();
    for (i, call) in calls.enumerate() {
        out.push(None);
        if set.len() >= 4 {
            let (j, r) = set.join_next().await.expect("a call is running")?;
            out[j] = Some(r?);
        }
        let fut = call();
        set.spawn(async move { (i, fut.await) });
    }
    while let Some(done) = set.join_next().await {
        let (j, r) = done?;
        out[j] = Some(r?);
    }
    Ok(out.into_iter().map(|t| t.expect("every call finished")).collect())
}
