//! The redis-crate driver of the Redis session store (`asm_stores::redis`): one Redis server
//! (a connection manager) or a Redis Cluster (the crate's cluster client, which follows MOVED
//! and ASK, refreshes its slot map and reconnects by itself).
//!
//! A slot that moves is the cluster at work, not a failure: a command answered with MOVED, ASK,
//! TRYAGAIN, CLUSTERDOWN, MASTERDOWN or READONLY (a failover in progress) is tried again, with
//! short pauses, until the store timeout; only then is the store `unavailable` (a 503 with
//! `Retry-After`), never an internal error. Writes that end sessions or count failures are
//! followed, on the same connection (one pipeline), by a bounded `WAIT` for the replicas
//! ([`ReplicaWait`]), so a failover just after does not undo them.

use asm_contract::{StoreError, StoreResult};
use asm_stores::redis::{Arg, Driver, RedisSessions as Sessions, Reply, Script};
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{ErrorKind, ServerErrorKind, Value};
use std::time::Duration;

pub type RedisSessions = Sessions<Redis>;

/// How long writes that must outlive a failover wait for the replicas, and for how many.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaWait {
    pub replicas: u32,
    pub timeout: Duration,
}

impl ReplicaWait {
    /// No waiting: a Redis without replicas.
    pub const NONE: ReplicaWait = ReplicaWait { replicas: 0, timeout: Duration::ZERO };
}

/// Connects lazily: the host starts while Redis is down and reconnects by itself.
pub fn connect(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<RedisSessions> {
    connect_with(url, prefix, timeout, ReplicaWait::NONE)
}

/// As [`connect`], waiting for `wait.replicas` replicas after writes that must outlive a failover.
pub fn connect_with(url: &str, prefix: &str, timeout: Duration, wait: ReplicaWait) -> anyhow::Result<RedisSessions> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let conn = ConnectionManager::new_lazy_with_config(client, config)?;
    Ok(Sessions::new(Redis { conn: Conn::Single(conn), timeout, wait }, prefix))
}

/// A Redis Cluster from its seed nodes (`redis://host:port` each; the password, when given,
/// applies to every node). Connects in the background, so the host starts while the cluster
/// is down; every key of a script shares one hash slot (see `asm_stores::redis`).
pub fn connect_cluster(
    nodes: &[String],
    password: Option<&str>,
    prefix: &str,
    timeout: Duration,
    wait: ReplicaWait,
) -> anyhow::Result<RedisSessions> {
    let mut builder = redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str));
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        builder = builder.password(p);
    }
    // The client's own retries follow redirections quickly; a failover that takes longer is
    // waited out by `Redis::run`, within the store timeout.
    let client = builder.retries(3).min_retry_wait(20).max_retry_wait(200).build()?;
    let config = redis::cluster::ClusterConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout);
    let conn = client.get_pending_async_connection_with_config(config);
    Ok(Sessions::new(Redis { conn: Conn::Cluster(conn), timeout, wait }, prefix))
}

pub struct Redis {
    conn: Conn,
    timeout: Duration,
    wait: ReplicaWait,
}

enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The first pause before trying a command again while the cluster moves a slot; each later
/// pause doubles, up to the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(25);
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// What is sent in one round trip: a command, or commands that must share a connection.
enum Request<'a> {
    Command(&'a redis::Cmd),
    Pipeline(&'a redis::Pipeline),
}

impl Redis {
    /// Sends one request under the store timeout, trying it again while the cluster is moving
    /// the slot it needs.
    async fn run(&self, request: Request<'_>) -> Result<Value, Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut pause = FIRST_PAUSE;
        loop {
            let reply = tokio::time::timeout_at(deadline, self.send(&request)).await;
            match reply {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) if self.worth_retrying(&e) && tokio::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
                Ok(Err(e)) => return Err(Failure::Redis(e)),
                Err(_) => return Err(Failure::TimedOut),
            }
        }
    }

    /// A failure the next attempt may not see: the cluster moving a slot; and on a cluster, a
    /// node that does not answer (its replica is taking over). One Redis that does not answer
    /// is reported at once.
    fn worth_retrying(&self, e: &redis::RedisError) -> bool {
        let unreachable = e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped();
        is_moving(e) || (matches!(self.conn, Conn::Cluster(_)) && unreachable)
    }

    async fn send(&self, request: &Request<'_>) -> redis::RedisResult<Value> {
        match (&self.conn, request) {
            (Conn::Single(c), Request::Command(cmd)) => cmd.query_async(&mut c.clone()).await,
            (Conn::Cluster(c), Request::Command(cmd)) => cmd.query_async(&mut c.clone()).await,
            (Conn::Single(c), Request::Pipeline(pipe)) => pipe.query_async(&mut c.clone()).await,
            (Conn::Cluster(c), Request::Pipeline(pipe)) => pipe.query_async(&mut c.clone()).await,
        }
    }

    /// A script, by `EVALSHA`, or whole when the server has not seen it yet (or restarted);
    /// with `wait`, followed on the same connection by `WAIT` for the replicas.
    async fn script(&self, script: &'static Script, keys: &[String], args: &[Arg], wait: bool) -> StoreResult<Value> {
        let run = |call: redis::Cmd| async move {
            if !wait {
                return self.run(Request::Command(&call)).await;
            }
            let mut pipe = redis::pipe();
            pipe.add_command(call);
            pipe.cmd("WAIT").arg(self.wait.replicas).arg(self.wait.timeout.as_millis() as u64);
            let value = self.run(Request::Pipeline(&pipe)).await?;
            let Value::Array(mut replies) = value else {
                return Err(Failure::Redis(redis::RedisError::from((ErrorKind::Parse, "a pipeline's reply"))));
            };
            let acked = replies.pop();
            if !matches!(acked, Some(Value::Int(n)) if n >= i64::from(self.wait.replicas)) {
                crate::metrics::METRICS.replica_waits_short.inc();
                tracing::warn!(acked = ?acked, wanted = self.wait.replicas, "redis: replicas did not confirm a write in time");
            }
            replies
                .pop()
                .ok_or_else(|| Failure::Redis(redis::RedisError::from((ErrorKind::Parse, "a pipeline's reply"))))
        };
        match run(script_call("EVALSHA", script.sha1(), keys, args)).await {
            Err(f) if f.is_no_script() => run(script_call("EVAL", script.source, keys, args)).await,
            other => other,
        }
        .map_err(StoreError::from)
    }
}

/// A reply that means the cluster is moving the slot or electing its master: worth trying again.
fn is_moving(e: &redis::RedisError) -> bool {
    e.is_cluster_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::MasterDown)
                | ErrorKind::Server(ServerErrorKind::ReadOnly)
                | ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::ClusterConnectionNotFound
        )
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
                if e.is_io_error()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || is_moving(&e) =>
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
        Ok(flatten(self.script(script, &keys, &args, false).await?))
    }

    async fn eval_replicated(
        &self,
        script: &'static Script,
        keys: Vec<String>,
        args: Vec<Arg>,
    ) -> StoreResult<Vec<Reply>> {
        Ok(flatten(self.script(script, &keys, &args, self.wait.replicas > 0).await?))
    }

    async fn command(&self, name: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Reply>> {
        let mut cmd = redis::cmd(name);
        push_args(&mut cmd, &args);
        Ok(flatten(self.run(Request::Command(&cmd)).await?))
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
