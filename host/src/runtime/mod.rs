//! The wasm side of the host. One engine, the component compiled once (and cached on disk) and
//! pre-instantiated at start ([`Runtime::new`]); a fresh instance per request under a memory cap
//! and a deadline ([`request`]); and the instance's imports answered by the shared stores
//! ([`imports`]).

pub mod bindings;
pub mod hashing;
mod imports;
mod request;

pub use request::RequestFailure;

use crate::stores::Stores;
use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// The most written bytes of an instance's memory restored in place after a request when the
/// kernel reports which pages were written; a request's stack and heap fit well within it.
const KEEP_RESIDENT_SCANNED: usize = 16 << 20;
/// Bytes kept (and rewritten) after every request when it cannot tell.
const KEEP_RESIDENT_UNSCANNED: usize = 64 << 10;

/// How often the epoch advances: how often a running instance yields and checks its deadline.
const TICK: Duration = Duration::from_millis(1);

pub struct RuntimeOptions<'a> {
    pub component: &'a Path,
    pub cache_dir: &'a Path,
    pub request_timeout: Duration,
    pub instance_memory_bytes: u64,
    pub max_concurrent: u32,
    /// Environment the component sees (`wasi:cli/environment`).
    pub guest_env: Vec<(String, String)>,
    /// Name the component's compiled functions for `perf` (/tmp/perf-<pid>.map).
    pub perfmap: bool,
    /// Turns at hashing passwords.
    pub hashing: hashing::HashGate,
}

pub struct Runtime {
    pre: ProxyPre<imports::RequestState>,
    stores: Arc<Stores>,
    guest_env: Vec<(String, String)>,
    memory_bytes: usize,
    request_timeout: Duration,
    /// One per instance slot of the pool.
    permits: Arc<Semaphore>,
    hashing: Arc<hashing::HashGate>,
}

impl Runtime {
    pub fn new(opts: RuntimeOptions<'_>, stores: Arc<Stores>) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.memory_init_cow(true);
        if opts.perfmap {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let n = opts.max_concurrent.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n * 4)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_memory_size(opts.instance_memory_bytes as usize)
            .table_keep_resident(64 << 10);
        // Resetting an instance's memory for the next request: with PAGEMAP_SCAN (Linux 6.7+)
        // only the pages the request wrote are restored, in place, up to the bound; without it
        // every kept byte is rewritten per request, so little is kept and the rest is returned
        // to the kernel (and faulted in again by the next request).
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.pagemap_scan(wasmtime::Enabled::Yes).linear_memory_keep_resident(KEEP_RESIDENT_SCANNED);
        } else {
            pool.linear_memory_keep_resident(KEEP_RESIDENT_UNSCANNED);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        spawn_epoch_ticker(&engine);

        let component = load_component(&engine, opts.component, opts.cache_dir)?;
        let mut linker: Linker<imports::RequestState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::asm::auth::user_store::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        bindings::asm::auth::session_store::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        bindings::asm::auth::geo::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        bindings::asm::auth::keyring::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        bindings::asm::auth::mailer::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        bindings::asm::auth::events::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        bindings::asm::auth::hashing::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)
            .map_err(anyhow::Error::from)
            .context("the component does not fit the host: is it built from this tree's wit/?")?;

        Ok(Runtime {
            pre,
            stores,
            guest_env: opts.guest_env,
            memory_bytes: opts.instance_memory_bytes as usize,
            request_timeout: opts.request_timeout,
            permits: Arc::new(Semaphore::new(n as usize)),
            hashing: Arc::new(opts.hashing),
        })
    }
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
