//! `asm-native serve …`: the benchmark's baseline. The same server, stores, settings and auth
//! logic as `asm serve`, with the logic compiled natively and called directly instead of in a
//! fresh wasm instance. It gives up the per-request isolation and deadline the component exists
//! for, so it lives here, built with the benchmark, and never in the shipped `asm` binary.

use asm_contract::Unbounded;
use asm_guest::config::Settings;
use asm_guest::http::{Body, Request};
use asm_guest::{Host, Os};
use asm_host::config::{Cli, Command};
use asm_host::server::{self, Engine};
use asm_host::stores::Stores;
use bytes::Bytes;
use clap::Parser as _;
use std::sync::Arc;
use tokio::runtime::Handle;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

struct Native {
    stores: Arc<Stores>,
    settings: Arc<Settings>,
}

#[async_trait::async_trait]
impl Engine for Native {
    async fn handle(&self, req: http::Request<Bytes>, _request_id: &str) -> hyper::Response<HyperOutgoingBody> {
        let (parts, body) = req.into_parts();
        let mut request = Request::new(parts.method.as_str(), parts.uri.path_and_query().map_or("/", |p| p.as_str()));
        request.headers =
            parts.headers.iter().map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_bytes().to_vec())).collect();
        request.body = Body::from_bytes(body.to_vec());
        let (stores, settings, rt) = (self.stores.clone(), self.settings.clone(), Handle::current());
        // a password hash would hold a tokio worker for tens of milliseconds or more, so the logic runs on the
        // blocking pool, as a wasm instance runs on its own fiber.
        let response = tokio::task::spawn_blocking(move || {
            let host = Host {
                users: &*stores.user_store,
                sessions: &*stores.session_store,
                geo: &*stores.geo,
                keyring: &*stores.keyring,
                mailer: &*stores.mailer,
                events: &*stores.events,
                // Hashes run on the blocking pool here, as many at once as it has threads.
                hashing: &Unbounded,
                system: &Os,
            };
            rt.block_on(asm_guest::handle(&request, &host, &settings))
        })
        .await
        .unwrap_or_else(|e| asm_guest::envelope::error(500, "Internal server error", format!("{e}").into()));
        server::response(response.status, &response.headers, response.body)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Serve(cfg) = Cli::parse().command else {
        anyhow::bail!("asm-native only serves: asm-native serve …")
    };
    asm_host::telemetry::init(cfg.json_logs());
    let (settings, _) = server::guest_settings(&[])?;
    let stores = Arc::new(Stores::from_config(&cfg).await?);
    tracing::warn!("serving with the native engine: the benchmark baseline, without per-request isolation");
    let engine = Native { stores, settings: Arc::new(settings) };
    let server = server::start(&cfg, Arc::new(engine)).await?;
    server::shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}
