//! The redis-crate driver of the Redis session store (`asm_stores::redis`): one Redis server
//! (a connection manager) or a Redis Cluster (the crate's cluster client, which follows MOVED
//! and ASK, refreshes its slot map and reconnects by itself).

use asm_contract::{StoreError, StoreResult};
use asm_stores::redis::{Arg, Driver, RedisSessions as Sessions, Reply, Script};
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{ErrorKind, ServerErrorKind, Value};
use std::time::Duration;

pub type RedisSessions = Sessions<Redis>;

/// Connects lazily: the host starts while Redis is down and reconnects by itself.
pub fn connect(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<RedisSessions> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let conn = ConnectionManager::new_lazy_with_config(client, config)?;
    Ok(Sessions::new(Redis { conn: Conn::Single(conn), timeout }, prefix))
}

/// A Redis Cluster from its seed nodes (`redis://host:port` each; the password, when given,
/// applies to every node). Connects in the background, so the host starts while the cluster
/// is down; every key of a script shares one hash slot (see `asm_stores::redis`).
pub fn connect_cluster(
    nodes: &[String],
    password: Option<&str>,
    prefix: &str,
    timeout: Duration,
) -> anyhow::Result<RedisSessions> {
    let mut builder = redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str));
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        builder = builder.password(p);
    }
    let client = builder.retries(2).build()?;
    let config = redis::cluster::ClusterConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout);
    let conn = client.get_pending_async_connection_with_config(config);
    Ok(Sessions::new(Redis { conn: Conn::Cluster(conn), timeout }, prefix))
}

pub struct Redis {
    conn: Conn,
    timeout: Duration,
}

enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Redis {
    /// Runs one command under the store timeout.
    async fn run(&self, cmd: &redis::Cmd) -> Result<Value, Failure> {
        let reply = match &self.conn {
            Conn::Single(c) => {
                let mut c = c.clone();
                tokio::time::timeout(self.timeout, async move { cmd.query_async::<Value>(&mut c).await }).await
            }
            Conn::Cluster(c) => {
                let mut c = c.clone();
                tokio::time::timeout(self.timeout, async move { cmd.query_async::<Value>(&mut c).await }).await
            }
        };
        match reply {
            Ok(result) => result.map_err(Failure::Redis),
            Err(_) => Err(Failure::TimedOut),
        }
    }
}

enum Failure {
    Redis(redis::RedisError),
    TimedOut,
}

impl Failure {
    fn is_no_script(&self) -> bool {
        matches!(self, Failure::Redis(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript))
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> StoreError {
        match f {
            Failure::TimedOut => StoreError::Unavailable("redis: timed out".into()),
            Failure::Redis(e)
                if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() =>
            {
                StoreError::Unavailable(format!("redis: {e}"))
            }
            Failure::Redis(e) => StoreError::Internal(format!("redis: {e}")),
        }
    }
}

fn push_args(cmd: &mut redis::Cmd, args: &[Arg]) {
    for a in args {
        match a {
            Arg::Int(n) => cmd.arg(*n),
            Arg::Text(s) => cmd.arg(s.as_str()),
        };
    }
}

/// `EVALSHA sha` or `EVAL source`, then the keys and arguments.
fn script_call(name: &str, script: &str, keys: &[String], args: &[Arg]) -> redis::Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(script).arg(keys.len()).arg(keys);
    push_args(&mut cmd, args);
    cmd
}

#[async_trait::async_trait]
impl Driver for Redis {
    async fn eval(&self, script: &'static Script, keys: Vec<String>, args: Vec<Arg>) -> StoreResult<Vec<Reply>> {
        let reply = match self.run(&script_call("EVALSHA", script.sha1(), &keys, &args)).await {
            // The server has not seen the script yet (or was restarted): send it whole once.
            Err(f) if f.is_no_script() => self.run(&script_call("EVAL", script.source, &keys, &args)).await,
            other => other,
        }?;
        Ok(flatten(reply))
    }

    async fn command(&self, name: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Reply>> {
        let mut cmd = redis::cmd(name);
        push_args(&mut cmd, &args);
        Ok(flatten(self.run(&cmd).await?))
    }
}

/// Replies as Spin returns them: nested arrays flattened into one list.
fn flatten(v: Value) -> Vec<Reply> {
    fn walk(v: Value, out: &mut Vec<Reply>) {
        match v {
            Value::Nil => out.push(Reply::Nil),
            Value::Int(n) => out.push(Reply::Int(n)),
            Value::BulkString(b) => out.push(Reply::Bytes(b)),
            Value::SimpleString(s) => out.push(Reply::Status(s)),
            Value::Okay => out.push(Reply::Status("OK".into())),
            Value::Array(items) | Value::Set(items) => items.into_iter().for_each(|i| walk(i, out)),
            other => out.push(Reply::Status(format!("{other:?}"))),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}
