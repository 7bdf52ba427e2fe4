//! The benchmark baseline: the same auth logic (`asm_guest`), compiled natively and called by
//! the same server with the same stores, without wasm. Not for production: it gives up the
//! per-request isolation that is the point of the component. Selected with `--engine native`.

use crate::server::to_hyper;
use crate::stores::Stores;
use asm_guest::config::Settings;
use asm_guest::http::{Body, MAX_BODY_BYTES, Request};
use asm_guest::{Host, Os};
use http_body_util::BodyExt as _;
use std::sync::Arc;
use tokio::runtime::Handle;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Beyond the limit, bodies are still drained up to this size so the client sees the 413.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

pub struct NativeRuntime {
    stores: Arc<Stores>,
    settings: Arc<Settings>,
}

impl NativeRuntime {
    pub fn new(stores: Arc<Stores>, settings: Settings) -> Self {
        NativeRuntime { stores, settings: Arc::new(settings) }
    }

    pub async fn handle(&self, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<HyperOutgoingBody> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut request = Request::new(parts.method.as_str(), path);
        request.headers =
            parts.headers.iter().map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_bytes().to_vec())).collect();
        request.body = read_body(body).await;
        let (stores, settings, rt) = (self.stores.clone(), self.settings.clone(), Handle::current());
        // bcrypt would hold a tokio worker for a quarter of a second, so the logic runs on the
        // blocking pool, as a wasm instance runs on its own fiber.
        let response = tokio::task::spawn_blocking(move || {
            let host =
                Host { users: &*stores.user_store, sessions: &*stores.session_store, geo: &*stores.geo, system: &Os };
            rt.block_on(asm_guest::handle(&request, &host, &settings))
        })
        .await
        .unwrap_or_else(|e| asm_guest::envelope::error(500, "Internal server error", format!("{e}").into()));
        to_hyper(response)
    }
}

async fn read_body(mut body: hyper::body::Incoming) -> Body {
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Body::Empty };
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= MAX_BODY_BYTES {
                bytes.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        Body::TooLarge
    } else if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Bytes(bytes)
    }
}
