//! The wasm side of the host: one engine, the component compiled once (and cached on disk),
//! pre-instantiated at start, and a fresh instance per request under a memory cap and an
//! epoch deadline. The instance's imports are the shared stores.

use crate::bindings::asm::auth::{geo, session_store, types, user_store};
use crate::stores::{NewUser, Session, StoreError, Stores, User};
use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder,
    UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How often the epoch advances: the granularity of both yielding and the deadline.
const TICK: Duration = Duration::from_millis(1);

pub struct RuntimeOptions<'a> {
    pub component: &'a Path,
    pub cache_dir: &'a Path,
    pub request_timeout: Duration,
    pub instance_memory_bytes: u64,
    pub max_concurrent: u32,
    /// Environment the component sees (`wasi:cli/environment`).
    pub guest_env: Vec<(String, String)>,
}

pub struct Runtime {
    pre: ProxyPre<RequestState>,
    stores: Arc<Stores>,
    guest_env: Vec<(String, String)>,
    memory_bytes: usize,
    max_ticks: u64,
    request_timeout: Duration,
    permits: Semaphore,
}

/// What one request's store holds.
pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    stores: Arc<Stores>,
    ticks: u64,
}

/// Why a request did not get the component's own response.
#[derive(Debug, thiserror::Error)]
pub enum RequestFailure {
    #[error("no instance could be created: {0:#}")]
    Instantiate(wasmtime::Error),
    #[error("the component failed: {0:#}")]
    Guest(wasmtime::Error),
    #[error("the request took longer than {0:?}")]
    Timeout(Duration),
}

impl Runtime {
    pub fn new(opts: RuntimeOptions<'_>, stores: Arc<Stores>) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.memory_init_cow(true);
        let n = opts.max_concurrent.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n * 4)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_memory_size(opts.instance_memory_bytes as usize)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        spawn_epoch_ticker(&engine);

        let component = load_component(&engine, opts.component, opts.cache_dir)?;
        let mut linker: Linker<RequestState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        user_store::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        session_store::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        geo::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)
            .map_err(anyhow::Error::from)
            .context("the component does not fit the host: is it built from this tree's wit/?")?;

        let max_ticks = (opts.request_timeout.as_millis() / TICK.as_millis()).max(1) as u64;
        Ok(Runtime {
            pre,
            stores,
            guest_env: opts.guest_env,
            memory_bytes: opts.instance_memory_bytes as usize,
            max_ticks,
            request_timeout: opts.request_timeout,
            permits: Semaphore::new(n as usize),
        })
    }

    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Runs the component on one request.
    pub async fn handle<B>(&self, req: hyper::Request<B>) -> Result<hyper::Response<HyperOutgoingBody>, RequestFailure>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let deadline = self.request_timeout + Duration::from_secs(1);
        let call = async {
            let _permit = self.permits.acquire().await.map_err(|e| RequestFailure::Instantiate(e.into()))?;
            self.call(req).await
        };
        tokio::time::timeout(deadline, call).await.map_err(|_| RequestFailure::Timeout(self.request_timeout))?
    }

    async fn call<B>(&self, req: hyper::Request<B>) -> Result<hyper::Response<HyperOutgoingBody>, RequestFailure>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let state = RequestState {
            wasi: WasiCtx::builder().envs(&self.guest_env).inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(self.memory_bytes).trap_on_grow_failure(true).build(),
            stores: self.stores.clone(),
            ticks: 0,
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        // Yield to the executor at every tick, so a long bcrypt does not hold a worker;
        // stop the instance once it has run for the whole request timeout.
        let max_ticks = self.max_ticks;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut cx| {
            let s = cx.data_mut();
            s.ticks += 1;
            if s.ticks >= max_ticks {
                return Ok(UpdateDeadline::Interrupt);
            }
            // tokio's own yield defers the wake-up until the worker has polled for I/O; a plain
            // self-wake would let busy instances starve sockets for dozens of ticks.
            Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
        });

        let (tx, rx) = tokio::sync::oneshot::channel();
        let incoming =
            store.data_mut().http().new_incoming_request(Scheme::Http, req).map_err(RequestFailure::Guest)?;
        let out = store.data_mut().http().new_response_outparam(tx).map_err(RequestFailure::Guest)?;
        let pre = self.pre.clone();
        // The guest keeps writing the body after it hands over the response, so it runs as its own task.
        let task = tokio::task::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await.map_err(RequestFailure::Instantiate)?;
            crate::metrics::METRICS.instances.inc();
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
                .map_err(RequestFailure::Guest)
        });
        match rx.await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(code)) => Err(RequestFailure::Guest(wasmtime::Error::msg(format!("error code {code:?}")))),
            Err(_) => Err(match task.await {
                Ok(Ok(())) => RequestFailure::Guest(wasmtime::Error::msg("the component set no response")),
                Ok(Err(e)) => e,
                Err(join) => RequestFailure::Guest(wasmtime::Error::msg(format!("task failed: {join}"))),
            }),
        }
    }
}

/// A response in the envelope for requests the component could not answer.
pub fn failure_response(failure: &RequestFailure) -> hyper::Response<HyperOutgoingBody> {
    let (status, message) = match failure {
        RequestFailure::Instantiate(_) => (503, "Service temporarily unavailable"),
        RequestFailure::Timeout(_) => (503, "Request timed out"),
        RequestFailure::Guest(_) => (500, "Internal server error"),
    };
    envelope_response(status, message, "the request could not be completed")
}

pub fn envelope_response(status: u16, message: &str, error: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "status": status, "message": message, "error": error });
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body.to_string())).map_err(|never| match never {}).boxed_unsync())
        .expect("static response parts are valid")
}

/// Advances the engine's epoch every tick until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("asm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// Compiles the component, or loads the compiled artifact that an earlier start left in
/// `cache_dir` for the same component bytes and engine settings.
pub fn load_component(engine: &Engine, path: &Path, cache_dir: &Path) -> anyhow::Result<Component> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the component at {} (build it with `make build`)", path.display()))?;
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let key = format!("{}-{:016x}", hex::encode(Sha256::digest(&bytes)), compat.finish());
    let cached = cache_dir.join(format!("{key}.cwasm"));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` below, for this engine's
        // configuration (its hash is in the name), in a directory only this service writes.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!(error = %e, "discarding an unusable compiled component"),
        }
    }
    let started = std::time::Instant::now();
    let component = Component::from_binary(engine, &bytes).map_err(anyhow::Error::from)?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "compiled the component");
    let write = || -> anyhow::Result<()> {
        std::fs::create_dir_all(cache_dir)?;
        let tmp = cache_dir.join(format!("{key}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, component.serialize().map_err(anyhow::Error::from)?)?;
        std::fs::rename(&tmp, &cached)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::warn!(error = %e, dir = %cache_dir.display(), "could not cache the compiled component");
    }
    Ok(component)
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: Default::default() }
    }
}

type Answer<T> = wasmtime::Result<Result<T, StoreError>>;

/// Passes a store's answer to the component, counting failures for `/metrics`.
fn counted<T>(store: &'static str, r: Result<T, StoreError>) -> Answer<T> {
    if let Err(e) = &r {
        crate::metrics::METRICS.store_error(store, e);
    }
    Ok(r)
}

impl types::Host for RequestState {}

impl user_store::Host for RequestState {
    async fn create_user(&mut self, user: NewUser) -> Answer<User> {
        counted("users", self.stores.users.create_user(user).await)
    }
    async fn find_user_by_email(&mut self, email: String) -> Answer<Option<User>> {
        counted("users", self.stores.users.find_user_by_email(&email).await)
    }
    async fn find_user_by_id(&mut self, id: String) -> Answer<Option<User>> {
        counted("users", self.stores.users.find_user_by_id(&id).await)
    }
    async fn record_login(&mut self, user_id: String, at: i64) -> Answer<()> {
        counted("users", self.stores.users.record_login(&user_id, at).await)
    }
    async fn update_password(&mut self, user_id: String, password_hash: String) -> Answer<()> {
        counted("users", self.stores.users.update_password(&user_id, &password_hash).await)
    }
    async fn record_login_attempt(&mut self, attempt: types::LoginAttempt) -> Answer<()> {
        counted("users", self.stores.users.record_login_attempt(attempt).await)
    }
    async fn list_login_attempts(&mut self, user_id: String, offset: u32, limit: u32) -> Answer<types::LoginPage> {
        counted("users", self.stores.users.list_login_attempts(&user_id, offset, limit).await)
    }
    async fn ping(&mut self) -> Answer<()> {
        counted("users", self.stores.users.ping().await)
    }
}

impl session_store::Host for RequestState {
    async fn create_session(&mut self, session: Session, max_sessions: u32) -> Answer<Vec<String>> {
        counted("sessions", self.stores.sessions.create_session(session, max_sessions).await)
    }
    async fn touch_session(&mut self, token_hash: String, at: i64, keep_until: i64) -> Answer<bool> {
        counted("sessions", self.stores.sessions.touch_session(&token_hash, at, keep_until).await)
    }
    async fn delete_other_sessions(&mut self, user_id: String, keep_token_hash: String) -> Answer<u32> {
        counted("sessions", self.stores.sessions.delete_other_sessions(&user_id, &keep_token_hash).await)
    }
    async fn uncount_attempt(&mut self, key: String) -> Answer<()> {
        counted("sessions", self.stores.sessions.uncount_attempt(&key).await)
    }
    async fn get_session(&mut self, token_hash: String) -> Answer<Option<Session>> {
        counted("sessions", self.stores.sessions.get_session(&token_hash).await)
    }
    async fn delete_session(&mut self, user_id: String, token_hash: String) -> Answer<bool> {
        counted("sessions", self.stores.sessions.delete_session(&user_id, &token_hash).await)
    }
    async fn list_sessions(&mut self, user_id: String) -> Answer<Vec<Session>> {
        counted("sessions", self.stores.sessions.list_sessions(&user_id).await)
    }
    async fn count_attempt(&mut self, key: String, window_ms: u64) -> Answer<types::Attempts> {
        counted("sessions", self.stores.sessions.count_attempt(&key, window_ms).await)
    }
    async fn reset_attempts(&mut self, key: String) -> Answer<()> {
        counted("sessions", self.stores.sessions.reset_attempts(&key).await)
    }
    async fn ping(&mut self) -> Answer<()> {
        counted("sessions", self.stores.sessions.ping().await)
    }
}

impl geo::Host for RequestState {
    fn lookup(&mut self, ip: String) -> wasmtime::Result<Option<geo::Location>> {
        Ok(self.stores.geo.lookup(&ip).map(|p| geo::Location {
            city: p.city,
            country: p.country,
            country_code: p.country_code,
        }))
    }
}
