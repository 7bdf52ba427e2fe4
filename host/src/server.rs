//! The HTTP server: accepts connections, stamps the client address, hands each request to the
//! engine, logs one line per request, and drains in-flight requests on shutdown.

use crate::config::ServeConfig;
use crate::native::NativeRuntime;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::stores::Stores;
use anyhow::Context as _;
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The header through which the component learns the peer address (Spin's name for it).
pub const CLIENT_ADDR_HEADER: &str = asm_guest::client::CLIENT_ADDR_HEADER;
/// Longest the server waits for in-flight requests when it shuts down.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What runs the auth logic: the component (always, in production) or the native baseline.
pub enum Engine {
    Wasm(Runtime),
    Native(NativeRuntime),
}

impl Engine {
    async fn handle(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        request_id: &str,
    ) -> hyper::Response<HyperOutgoingBody> {
        match self {
            Engine::Wasm(runtime) => match runtime.handle(req, request_id).await {
                Ok(resp) => resp,
                Err(failure) => {
                    tracing::error!(request_id, error = %failure, "request failed");
                    let (status, message) = failure.status();
                    envelope(status, message, "the request could not be completed")
                }
            },
            Engine::Native(native) => native.handle(req).await,
        }
    }
}

/// A response in the component's envelope, for what the host answers itself.
pub fn envelope(status: u16, message: &str, error: &str) -> hyper::Response<HyperOutgoingBody> {
    to_hyper(asm_guest::envelope::error(status, message, error.into()))
}

/// A response of the component's logic as hyper's.
pub fn to_hyper(r: asm_guest::http::Response) -> hyper::Response<HyperOutgoingBody> {
    let mut builder = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(Full::new(Bytes::from(r.body)).map_err(|never| match never {}).boxed_unsync())
        .expect("the component's responses have valid status and headers")
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
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

/// Builds the stores and the engine from the configuration. `guest_env` overrides the
/// component settings taken from the process environment.
pub async fn build_runtime(cfg: &ServeConfig, guest_env: &[(String, String)]) -> anyhow::Result<Engine> {
    let env = component_env(guest_env);
    let settings =
        asm_guest::config::Settings::from_lookup(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .map_err(|e| anyhow::anyhow!("invalid setting {e}"))?;
    let stores = Arc::new(Stores::from_config(cfg).await?);
    if cfg.engine == "native" {
        tracing::warn!("serving with the native engine: the benchmark baseline, without per-request isolation");
        return Ok(Engine::Native(NativeRuntime::new(stores, settings)));
    }
    Runtime::new(
        RuntimeOptions {
            component: &cfg.component,
            cache_dir: &cfg.cache_dir(),
            request_timeout: cfg.request_timeout,
            instance_memory_bytes: cfg.instance_memory_mb << 20,
            max_concurrent: cfg.max_concurrent_requests,
            guest_env: env,
        },
        stores,
    )
    .map(Engine::Wasm)
}

/// The component's environment: its variables from the process, then the overrides.
fn component_env(overrides: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        asm_guest::config::VARS.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))).collect();
    for (k, v) in overrides {
        env.retain(|(n, _)| n != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Binds and serves until `shutdown` is called.
pub async fn start(cfg: &ServeConfig, engine: Engine) -> anyhow::Result<Server> {
    let listener = TcpListener::bind((cfg.host.as_str(), cfg.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", cfg.host, cfg.port))?;
    let addr = listener.local_addr()?;
    let engine = Arc::new(engine);
    let (shutdown, signal) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, engine, signal));
    tracing::info!(%addr, "listening");
    Ok(Server { addr, shutdown, task })
}

async fn accept_loop(listener: TcpListener, engine: Arc<Engine>, mut signal: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = signal.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, peer, engine.clone(), signal.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
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
    engine: Arc<Engine>,
    mut signal: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| {
        let engine = engine.clone();
        async move { Ok::<_, Infallible>(serve_request(&engine, req, peer).await) }
    });
    let conn = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
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

fn metrics_response() -> hyper::Response<HyperOutgoingBody> {
    hyper::Response::builder()
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(Full::new(Bytes::from(crate::metrics::METRICS.encode())).map_err(|never| match never {}).boxed_unsync())
        .expect("static response parts are valid")
}

/// A short id per request, for the log lines that belong to it.
fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn serve_request(
    engine: &Engine,
    mut req: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let request_id = next_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // Only the host may say who the client is: drop any copy the client sent.
    let headers = req.headers_mut();
    headers.remove(CLIENT_ADDR_HEADER);
    headers.insert(CLIENT_ADDR_HEADER, HeaderValue::from_str(&peer.to_string()).expect("socket addresses are ASCII"));
    if !headers.contains_key(http::header::HOST) {
        headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
    }
    let route = crate::metrics::route(&path);
    let resp = if route == "/metrics" && method == http::Method::GET {
        metrics_response()
    } else {
        engine.handle(req, &request_id).await
    };
    let m = &crate::metrics::METRICS;
    m.requests
        .get_or_create(&crate::metrics::RequestLabels {
            method: method.to_string(),
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    m.latency.get_or_create(&crate::metrics::RouteLabels { route }).observe(started.elapsed().as_secs_f64());
    tracing::info!(
        request_id,
        %method,
        %path,
        status = resp.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}
