//! The HTTP server: accepts connections (a bounded number), reads each request whole under
//! time limits before any instance is taken, stamps the client address, hands the request to
//! the engine, logs one line per request, and drains in-flight requests on shutdown. Metrics
//! are served on a listener of their own.

use crate::config::ServeConfig;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::stores::Stores;
use anyhow::Context as _;
use asm_contract::http::{DRAIN_LIMIT, MAX_BODY_BYTES};
use asm_settings::Settings;
use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The header through which the component learns the peer address (Spin's name for it).
pub use asm_contract::http::CLIENT_ADDR_HEADER;
/// Longest the server waits for in-flight requests when it shuts down.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of request line and headers a request may have (431 beyond).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What answers a request once the server has read it whole.
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    async fn handle(&self, req: http::Request<Bytes>, request_id: &str) -> hyper::Response<HyperOutgoingBody>;
}

#[async_trait::async_trait]
impl Engine for Runtime {
    async fn handle(&self, req: http::Request<Bytes>, request_id: &str) -> hyper::Response<HyperOutgoingBody> {
        match Runtime::handle(self, req, request_id).await {
            Ok(resp) => resp,
            Err(failure) => {
                tracing::error!(request_id, error = %failure, "request failed");
                let (status, message) = failure.status();
                envelope(status, message, "the request could not be completed")
            }
        }
    }
}

/// A response in the component's JSON envelope, for what the host answers itself (before a
/// request reaches the component, or when it could not answer).
pub fn envelope(status: u16, message: &str, error: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "status": status, "message": message, "error": error });
    let headers =
        [("content-type", "application/json"), ("cache-control", "no-store"), ("x-content-type-options", "nosniff")];
    let mut resp = response(status, &headers, serde_json::to_vec(&body).unwrap_or_default());
    if status == 503 {
        resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// A whole response as hyper's.
pub fn response<K: AsRef<str>, V: AsRef<str>>(
    status: u16,
    headers: &[(K, V)],
    body: Vec<u8>,
) -> hyper::Response<HyperOutgoingBody> {
    let mut builder = hyper::Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(k.as_ref(), v.as_ref());
    }
    builder
        .body(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed_unsync())
        .expect("responses made here have valid status and headers")
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when it is.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the operators' routes (`/admin`) are served, when they have a listener of their own.
    pub admin_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stops accepting, lets in-flight requests finish (bounded), and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// The component's settings and environment: its variables from the process, then the
/// overrides; refused when one is not understood.
pub fn guest_settings(overrides: &[(String, String)]) -> anyhow::Result<(Settings, Vec<(String, String)>)> {
    let mut env: Vec<(String, String)> =
        asm_contract::http::SETTINGS.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))).collect();
    for (k, v) in overrides {
        env.retain(|(n, _)| n != k);
        env.push((k.clone(), v.clone()));
    }
    let settings = Settings::from_lookup(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .map_err(|e| anyhow::anyhow!("invalid setting {e}"))?;
    Ok((settings, env))
}

/// Argon2id's memory is the component's: a setting that cannot fit beside the component's own
/// (about 8 MiB) in `INSTANCE_MEMORY_MB` would fail every sign-in, so it is refused at start.
fn check_hash_memory(cfg: &ServeConfig, settings: &Settings) -> anyhow::Result<()> {
    if let asm_settings::PasswordHashing::Argon2id { memory_kib, .. } = settings.password_hashing {
        let needed_mb = u64::from(memory_kib).div_ceil(1024) + 16;
        anyhow::ensure!(
            needed_mb <= cfg.instance_memory_mb,
            "ARGON2_MEMORY_KIB={memory_kib} needs INSTANCE_MEMORY_MB of at least {needed_mb} (it is {}): raise it, or lower ARGON2_MEMORY_KIB",
            cfg.instance_memory_mb
        );
    }
    Ok(())
}

/// Builds the stores and the component runtime from the configuration. `guest_env` overrides
/// the component settings taken from the process environment.
pub async fn build_runtime(cfg: &ServeConfig, guest_env: &[(String, String)]) -> anyhow::Result<Runtime> {
    let (settings, env) = guest_settings(guest_env)?;
    // Before the stores: they start the mail worker, which must not run on a refused config.
    check_mail(cfg, &settings)?;
    check_hash_memory(cfg, &settings)?;
    let stores = Arc::new(Stores::from_config(cfg).await?);
    Runtime::new(
        RuntimeOptions {
            component: &cfg.component,
            cache_dir: &cfg.cache_dir(),
            request_timeout: cfg.request_timeout,
            instance_memory_bytes: cfg.instance_memory_mb << 20,
            max_concurrent: cfg.max_concurrent_requests,
            guest_env: env,
            perfmap: cfg.wasm_profiler == "perfmap",
            hashing: crate::runtime::hashing::HashGate::new(cfg.hash_concurrency(), cfg.hash_queue, cfg.hash_wait),
        },
        stores,
    )
}

/// Mail must reach people in production: a mail server, and links that point at the service.
/// (Development logs mail when there is no server, and links follow the request's address.)
pub fn check_mail(cfg: &ServeConfig, settings: &Settings) -> anyhow::Result<()> {
    if !settings.production {
        return Ok(());
    }
    anyhow::ensure!(
        cfg.smtp_url.as_deref().is_some_and(|u| !u.trim().is_empty()),
        "SMTP_URL is required in production: password-reset and verification mail is delivered through it \
         (e.g. smtps://user:password@mail.example.com:465)"
    );
    anyhow::ensure!(
        settings.public_url.is_some(),
        "PUBLIC_URL is required in production: links in mail start with it (e.g. https://auth.example.com)"
    );
    Ok(())
}

/// How connections are read: the limits that keep slow or idle clients from holding resources.
#[derive(Clone, Copy)]
struct Limits {
    header_read_timeout: Duration,
    body_read_timeout: Duration,
}

/// Which routes a listener serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Every route (no `ADMIN_ADDR`).
    All,
    /// Every route but the operators' (they have a listener of their own).
    Public,
    /// The operators' routes only (`ADMIN_ADDR`).
    Admin,
}

impl Scope {
    fn serves(self, path: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Public => !asm_contract::http::is_admin(path),
            Scope::Admin => asm_contract::http::is_admin(path),
        }
    }
}

/// Binds and serves until `shutdown` is called.
pub async fn start(cfg: &ServeConfig, engine: Arc<dyn Engine>) -> anyhow::Result<Server> {
    let listener = TcpListener::bind((cfg.host.as_str(), cfg.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", cfg.host, cfg.port))?;
    let addr = listener.local_addr()?;
    let (shutdown, signal) = watch::channel(false);
    let metrics_addr = match cfg.metrics_addr() {
        Some(wanted) => {
            let l = TcpListener::bind(wanted).await.with_context(|| format!("cannot serve metrics on {wanted}"))?;
            let at = l.local_addr()?;
            tokio::spawn(serve_metrics(l, signal.clone()));
            tracing::info!(addr = %at, "metrics at /metrics");
            Some(at)
        }
        None => None,
    };
    let limits = Limits { header_read_timeout: cfg.header_read_timeout, body_read_timeout: cfg.body_read_timeout };
    let connections = Arc::new(Semaphore::new(cfg.max_connections.max(1) as usize));
    let (admin, public_scope) = match cfg.admin_addr() {
        Some(wanted) => {
            let l = TcpListener::bind(wanted).await.with_context(|| format!("cannot serve /admin on {wanted}"))?;
            let at = l.local_addr()?;
            tracing::info!(addr = %at, "operators' routes (/admin) here only");
            (Some((l, at)), Scope::Public)
        }
        None => (None, Scope::All),
    };
    let admin_addr = admin.as_ref().map(|(_, at)| *at);
    let public = accept_loop(listener, engine.clone(), limits, connections.clone(), public_scope, signal.clone());
    let task = tokio::spawn(async move {
        match admin {
            Some((l, _)) => {
                tokio::join!(public, accept_loop(l, engine, limits, connections, Scope::Admin, signal));
            }
            None => public.await,
        }
    });
    tracing::info!(%addr, "listening");
    Ok(Server { addr, metrics_addr, admin_addr, shutdown, task })
}

async fn accept_loop(
    listener: TcpListener,
    engine: Arc<dyn Engine>,
    limits: Limits,
    slots: Arc<Semaphore>,
    scope: Scope,
    mut signal: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        // A connection slot first: past the limit, new connections wait in the kernel's queue.
        let slot = tokio::select! {
            _ = signal.changed() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let accepted = loop {
            tokio::select! {
                _ = signal.changed() => break None,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok(pair) => break Some(pair),
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        };
        let Some((stream, peer)) = accepted else { break };
        let _ = stream.set_nodelay(true);
        let (engine, signal) = (engine.clone(), signal.clone());
        connections.spawn(async move {
            serve_connection(stream, peer, engine, limits, scope, signal).await;
            drop(slot);
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!("in-flight requests did not finish in {DRAIN_TIMEOUT:?}; closing them");
        connections.abort_all();
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    engine: Arc<dyn Engine>,
    limits: Limits,
    scope: Scope,
    mut signal: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| {
        let engine = engine.clone();
        async move { Ok::<_, Infallible>(serve_request(&*engine, req, peer, limits, scope).await) }
    });
    // The header timeout also ends idle keep-alive connections: it runs while hyper waits for
    // the next request's head.
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result { tracing::debug!(error = %e, "connection ended with an error") }
        }
        _ = signal.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn serve_metrics(listener: TcpListener, mut signal: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            _ = signal.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
        };
        let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
            let resp = if req.uri().path() == "/metrics" {
                hyper::Response::builder()
                    .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                    .body(Full::new(Bytes::from(crate::metrics::METRICS.encode())))
            } else {
                hyper::Response::builder().status(404).body(Full::new(Bytes::from_static(b"not found\n")))
            };
            Ok::<_, Infallible>(resp.expect("static response parts are valid"))
        });
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let _ = conn.await;
        });
    }
}

/// A short id per request, for the log lines that belong to it.
fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Why a body could not be read.
enum BodyFailure {
    /// It did not arrive within the body timeout.
    TimedOut,
    /// Longer than the drain limit.
    TooLarge,
    /// The client broke the framing or the connection.
    Broken,
}

/// Reads a body whole, keeping at most one byte more than the component accepts (so it can
/// still say 413) and dropping the rest, all within `timeout`.
async fn read_body(mut body: hyper::body::Incoming, timeout: Duration) -> Result<Bytes, BodyFailure> {
    let read = async {
        let mut kept = BytesMut::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyFailure::Broken)?;
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen > DRAIN_LIMIT {
                    return Err(BodyFailure::TooLarge);
                }
                let room = (MAX_BODY_BYTES + 1).saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok(kept.freeze())
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Err(BodyFailure::TimedOut))
}

/// About how many bytes the request line and headers took on the wire. hyper bounds what it
/// buffers of a head, not what a head may add up to once parsed.
fn head_bytes(parts: &http::request::Parts) -> usize {
    let line = parts.method.as_str().len() + parts.uri.to_string().len() + " HTTP/1.1\r\n".len() + 1;
    let headers: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + ": \r\n".len()).sum();
    line + headers
}

/// A `Host` that is a valid authority (ASCII, no spaces or stray characters).
fn valid_host(value: &HeaderValue) -> bool {
    value.to_str().is_ok_and(|s| s.parse::<http::uri::Authority>().is_ok())
}

async fn serve_request(
    engine: &dyn Engine,
    req: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
    limits: Limits,
    scope: Scope,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let request_id = next_request_id();
    let (mut parts, body) = req.into_parts();
    let (method, path) = (parts.method.clone(), parts.uri.path().to_string());
    let resp = match parts.headers.get(http::header::HOST) {
        // Not this listener's: as if there were no such route (the body is not read).
        _ if !scope.serves(&path) => envelope(404, "Not found", "no such route").with_close(),
        _ if head_bytes(&parts) > MAX_HEAD_BYTES => envelope(
            431,
            "Request header fields too large",
            &format!("the request line and headers are limited to {MAX_HEAD_BYTES} bytes"),
        )
        .with_close(),
        Some(host) if !valid_host(host) => {
            envelope(400, "Invalid request", "the Host header is not a valid host name").with_close()
        }
        _ => match read_body(body, limits.body_read_timeout).await {
            Err(BodyFailure::TimedOut) => {
                envelope(408, "Request timeout", "the request body did not arrive in time").with_close()
            }
            Err(BodyFailure::TooLarge) => {
                envelope(413, "Request body too large", &format!("bodies are limited to {MAX_BODY_BYTES} bytes"))
                    .with_close()
            }
            Err(BodyFailure::Broken) => envelope(400, "Invalid request", "the request body is malformed").with_close(),
            Ok(body) => {
                // Only the host may say who the client is: drop any copy the client sent.
                let headers = &mut parts.headers;
                headers.remove(CLIENT_ADDR_HEADER);
                let peer_value = HeaderValue::from_str(&peer.to_string()).expect("socket addresses are ASCII");
                headers.insert(CLIENT_ADDR_HEADER, peer_value);
                if !headers.contains_key(http::header::HOST) {
                    headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
                }
                engine.handle(http::Request::from_parts(parts, body), &request_id).await
            }
        },
    };
    let route = crate::metrics::route(&path);
    let status = resp.status().as_u16();
    let m = &crate::metrics::METRICS;
    let method = crate::metrics::method(&method);
    m.requests.get_or_create(&crate::metrics::RequestLabels { method, route, status }).inc();
    m.latency.get_or_create(&crate::metrics::RouteLabels { route }).observe(started.elapsed().as_secs_f64());
    tracing::info!(
        request_id,
        method,
        path = %crate::metrics::shorten(&path, 200),
        status,
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

trait CloseAfter {
    fn with_close(self) -> Self;
}

impl CloseAfter for hyper::Response<HyperOutgoingBody> {
    /// The connection ends after this response: what is left of the request is not read.
    fn with_close(mut self) -> Self {
        self.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        self
    }
}

/// Resolves at SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
