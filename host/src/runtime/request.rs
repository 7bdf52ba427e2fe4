//! One request: a fresh instance from the pool, its WASI context, the call into
//! `wasi:http/incoming-handler`, and what the component wrote to stdout/stderr, logged with the
//! request's id.

use super::Runtime;
use super::imports::RequestState;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use std::time::{Duration, Instant};
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How much of its output a request keeps for the log.
const OUTPUT_CAPACITY: usize = 64 * 1024;

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

impl RequestFailure {
    /// The status and message a client gets for it.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            RequestFailure::Instantiate(_) => (503, "Service temporarily unavailable"),
            RequestFailure::Timeout(_) => (503, "Request timed out"),
            RequestFailure::Guest(_) => (500, "Internal server error"),
        }
    }
}

impl Runtime {
    /// Runs the component on one request whose body the server has already read.
    ///
    /// The request may take `request_timeout` of wall-clock time from here on: waiting for an
    /// instance slot, running, and writing its body. At the deadline the instance is stopped
    /// wherever it is (running wasm: the epoch callback interrupts it; waiting on a store or
    /// the client: its task drops it) and its slot is free again at once.
    pub async fn handle(
        &self,
        req: http::Request<Bytes>,
        request_id: &str,
    ) -> Result<hyper::Response<HyperOutgoingBody>, RequestFailure> {
        let timeout = self.request_timeout;
        let deadline = Instant::now() + timeout;
        let permit = tokio::time::timeout_at(deadline.into(), self.permits.clone().acquire_owned())
            .await
            .map_err(|_| RequestFailure::Timeout(timeout))?
            .map_err(|e| RequestFailure::Instantiate(e.into()))?;

        let output = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let state = RequestState {
            wasi: WasiCtx::builder().envs(&self.guest_env).stdout(output.clone()).stderr(output.clone()).build(),
            http: WasiHttpCtx::new(),
            table: wasmtime::component::ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(self.memory_bytes).trap_on_grow_failure(true).build(),
            stores: self.stores.clone(),
            hashing: self.hashing.clone(),
            hash_turn: None,
            events_written: Vec::new(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        // At every tick: stop at the deadline (wall-clock time, however often this instance got
        // to run), else yield to the executor, so a long bcrypt does not hold a worker.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                return Ok(UpdateDeadline::Interrupt);
            }
            // tokio's own yield defers the wake-up until the worker has polled for I/O; a plain
            // self-wake would let busy instances starve sockets for dozens of ticks.
            Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
        });

        let (tx, rx) = tokio::sync::oneshot::channel();
        let req = req.map(|body| {
            Full::new(body).map_err(|never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} })
        });
        let incoming =
            store.data_mut().http().new_incoming_request(Scheme::Http, req).map_err(RequestFailure::Guest)?;
        let out = store.data_mut().http().new_response_outparam(tx).map_err(RequestFailure::Guest)?;
        let pre = self.pre.clone();
        let id = request_id.to_string();
        // The guest keeps writing the body after it hands over the response, so it runs as a task
        // of its own, which owns the instance and its slot until the guest is done or the deadline.
        let task = tokio::task::spawn(async move {
            let call = async move {
                let proxy = pre.instantiate_async(&mut store).await.map_err(RequestFailure::Instantiate)?;
                crate::metrics::METRICS.instances.inc();
                proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, out).await.map_err(|e| {
                    if Instant::now() >= deadline { RequestFailure::Timeout(timeout) } else { RequestFailure::Guest(e) }
                })
            };
            let result =
                tokio::time::timeout_at(deadline.into(), call).await.unwrap_or(Err(RequestFailure::Timeout(timeout)));
            drop(permit);
            log_output(&id, &output);
            result
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

/// What the component printed, one log line per line, with the request it belongs to.
fn log_output(request_id: &str, output: &MemoryOutputPipe) {
    let text = output.contents();
    for line in String::from_utf8_lossy(&text).lines().filter(|l| !l.trim().is_empty()) {
        tracing::warn!(request_id, "component: {line}");
    }
}
