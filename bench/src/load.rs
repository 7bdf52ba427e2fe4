//! The load generator: a fixed number of keep-alive HTTP/1.1 connections (hyper 1), each
//! sending its next request as soon as the previous answer is read, for a warm-up and then a
//! measured window. Latencies of the answers completed inside the window go into an
//! HdrHistogram; the server's CPU time and peak RSS are read at the window's edges. A window
//! lasts its duration, or longer until at least one answer per connection has come: bcrypt
//! routes at high concurrency need seconds for their first answers.

use crate::host::{self, CpuTime, Host};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

pub type Body = Full<Bytes>;
/// Builds a request for (connection number, request number on that connection).
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Body> + Send + Sync>;

/// Below this many completed requests per connection, throughput is taken from Little's law
/// rather than counted: bcrypt-bound requests finish in waves, and a window catches a whole
/// number of waves.
const MIN_ROUNDS_FOR_COUNTING: u64 = 20;

pub struct Plan {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub expect: StatusCode,
    /// Answers with this status are counted apart ([`Outcome::refused`]), not as errors: a
    /// server that turns load away on purpose.
    pub refused: Option<StatusCode>,
}

/// Longest a window is stretched while waiting for its minimum of answers.
const MAX_STRETCH: Duration = Duration::from_secs(120);

/// The measured window, as the connections see it.
struct Window {
    start: Instant,
    closed: AtomicBool,
    completed: AtomicU64,
}

/// What one route under one engine did in the measured window.
pub struct Outcome {
    pub concurrency: usize,
    pub window: Duration,
    /// Answers with the expected status completed inside the window.
    pub completed: u64,
    /// Transport errors and unexpected statuses, in the whole run.
    pub errors: u64,
    pub first_error: Option<String>,
    /// Answers with the expected status in the whole run, warm-up and tail included.
    pub total_ok: u64,
    /// Answers with the plan's `refused` status completed inside the window.
    pub refused: u64,
    /// Latency of the window's answers, in microseconds.
    pub latency_us: Histogram<u64>,
    pub server_cpu: CpuTime,
    pub client_cpu: CpuTime,
    /// Every process's CPU time in the window: the host, the load generator, the stores, and
    /// anything else that ran.
    pub machine_cpu_us: f64,
    pub peak_rss_kib: Option<u64>,
}

impl Outcome {
    /// True when throughput comes from Little's law (concurrency / mean latency).
    pub fn uses_littles_law(&self) -> bool {
        self.completed < MIN_ROUNDS_FOR_COUNTING * self.concurrency as u64
    }

    pub fn requests_per_second(&self) -> f64 {
        if self.completed == 0 {
            return 0.0;
        }
        if self.uses_littles_law() {
            self.concurrency as f64 / (self.latency_us.mean() / 1e6)
        } else {
            self.completed as f64 / self.window.as_secs_f64()
        }
    }

    /// Server CPU per request: CPU used per second of the window over requests per second.
    pub fn server_cpu_per_request_us(&self) -> CpuTime {
        self.per_request(self.server_cpu)
    }

    pub fn client_cpu_per_request_us(&self) -> f64 {
        let c = self.per_request(self.client_cpu);
        c.user_us + c.sys_us
    }

    /// The rest of the machine's CPU per request: PostgreSQL, Redis, the idle server of the
    /// other engine, and whatever else ran.
    pub fn rest_cpu_per_request_us(&self) -> f64 {
        let total = |c: CpuTime| c.user_us + c.sys_us;
        let rest = (self.machine_cpu_us - total(self.server_cpu) - total(self.client_cpu)).max(0.0);
        let c = self.per_request(CpuTime { user_us: rest, sys_us: 0.0 });
        c.user_us
    }

    fn per_request(&self, cpu: CpuTime) -> CpuTime {
        let per_second = self.window.as_secs_f64() * self.requests_per_second();
        if per_second == 0.0 {
            return CpuTime::default();
        }
        CpuTime { user_us: cpu.user_us / per_second, sys_us: cpu.sys_us / per_second }
    }

    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.latency_us.value_at_quantile(q))
    }

    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.latency_us.mean() / 1e6)
    }
}

struct Worker {
    latency_us: Histogram<u64>,
    completed: u64,
    errors: u64,
    first_error: Option<String>,
    total_ok: u64,
    refused: u64,
}

/// Runs one load: `plan.concurrency` connections to `host`, warm-up, then the measured window.
pub async fn run(host: &Host, plan: &Plan, make: MakeRequest) -> anyhow::Result<Outcome> {
    let start = Instant::now() + plan.warmup;
    let window = Arc::new(Window { start, closed: AtomicBool::new(false), completed: AtomicU64::new(0) });
    let mut workers = tokio::task::JoinSet::new();
    for n in 0..plan.concurrency {
        workers.spawn(connection(host.addr, n, make.clone(), (plan.expect, plan.refused), window.clone()));
    }
    tokio::time::sleep_until(start).await;
    let (server0, client0, machine0) = (host.cpu()?, CpuTime::of("/proc/self/stat")?, host::machine_busy_us()?);
    let rss_reset = host.reset_peak_rss();
    tokio::time::sleep_until(start + plan.duration).await;
    let enough = plan.concurrency as u64;
    while window.completed.load(Ordering::Relaxed) < enough && start.elapsed() < plan.duration + MAX_STRETCH {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (server1, client1, machine1) = (host.cpu()?, CpuTime::of("/proc/self/stat")?, host::machine_busy_us()?);
    window.closed.store(true, Ordering::Relaxed);
    let measured = start.elapsed();
    let peak_rss_kib = if rss_reset { host.peak_rss_kib().ok() } else { None };

    let mut out = Outcome {
        concurrency: plan.concurrency,
        window: measured,
        completed: 0,
        errors: 0,
        first_error: None,
        total_ok: 0,
        refused: 0,
        latency_us: new_histogram(),
        server_cpu: server1.since(server0),
        client_cpu: client1.since(client0),
        machine_cpu_us: machine1 - machine0,
        peak_rss_kib,
    };
    while let Some(w) = workers.join_next().await {
        let w = w?;
        out.latency_us.add(&w.latency_us).map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))?;
        out.completed += w.completed;
        out.errors += w.errors;
        out.total_ok += w.total_ok;
        out.refused += w.refused;
        out.first_error = out.first_error.or(w.first_error);
    }
    Ok(out)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is a valid precision")
}

async fn connection(
    addr: SocketAddr,
    n: usize,
    make: MakeRequest,
    (expect, refused): (StatusCode, Option<StatusCode>),
    window: Arc<Window>,
) -> Worker {
    let mut w =
        Worker { latency_us: new_histogram(), completed: 0, errors: 0, first_error: None, total_ok: 0, refused: 0 };
    let mut sender: Option<SendRequest<Body>> = None;
    let mut seq = 0u64;
    while !window.closed.load(Ordering::Relaxed) {
        if sender.is_none() {
            match connect(addr).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    w.error(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let s = sender.as_mut().expect("connected above");
        if s.ready().await.is_err() {
            sender = None;
            continue;
        }
        let req = make(n, seq);
        seq += 1;
        let sent = Instant::now();
        let answer = match s.send_request(req).await {
            Ok(resp) => {
                let status = resp.status();
                resp.into_body().collect().await.map(|b| (status, b.to_bytes()))
            }
            Err(e) => Err(e),
        };
        let done = Instant::now();
        match answer {
            Ok((status, _)) if status == expect => {
                w.total_ok += 1;
                if done >= window.start && !window.closed.load(Ordering::Relaxed) {
                    w.completed += 1;
                    window.completed.fetch_add(1, Ordering::Relaxed);
                    let _ = w.latency_us.record((done - sent).as_micros().max(1) as u64);
                }
            }
            Ok((status, _)) if Some(status) == refused => {
                if done >= window.start && !window.closed.load(Ordering::Relaxed) {
                    w.refused += 1;
                }
            }
            Ok((status, body)) => {
                w.error(format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
            }
            Err(e) => {
                w.error(format!("request: {e}"));
                sender = None;
            }
        }
    }
    w
}

impl Worker {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Body>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request on a fresh connection: for set-up and readiness checks.
pub async fn once(addr: SocketAddr, req: Request<Body>) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let mut sender = connect(addr).await?;
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    Ok((parts.status, parts.headers, body.collect().await?.to_bytes()))
}

pub async fn get_once(addr: SocketAddr, path: &str) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    once(addr, get(addr, path, None)).await
}

/// A browser's User-Agent, so every request parses one as real traffic does.
pub const USER_AGENT: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path).header("host", addr.to_string()).header("user-agent", USER_AGENT);
    if let Some(t) = token {
        b = b.header("cookie", format!("session_token={t}"));
    }
    b.body(Body::default()).expect("a valid request")
}

/// A GET with a whole `name=value` cookie pair (the peer's cookie is named differently).
pub fn get_with_cookie(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path).header("host", addr.to_string()).header("user-agent", USER_AGENT);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.body(Body::default()).expect("a valid request")
}

pub fn post_json(addr: SocketAddr, path: &str, json: String) -> Request<Body> {
    Request::post(path)
        .header("host", addr.to_string())
        .header("user-agent", USER_AGENT)
        .header("content-type", "application/json")
        .body(Body::new(Bytes::from(json)))
        .expect("a valid request")
}
