//! What one request's store holds, and the component's imports answered from it: WASI from
//! wasmtime-wasi, and the `asm:auth` interfaces from the shared stores, one forwarding method per
//! operation of `asm_contract::with_store_operations!`.

use super::bindings::asm::auth as wit;
use super::hashing::HashGate;
use crate::stores::Stores;
use asm_contract::*;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct RequestState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) limits: StoreLimits,
    pub(super) stores: Arc<Stores>,
    pub(super) hashing: Arc<HashGate>,
    /// The request's turn at hashing, while it holds one (given back when the store drops).
    pub(super) hash_turn: Option<OwnedSemaphorePermit>,
    /// The events this request wrote: their webhook deliveries are released when it ends.
    pub(super) events_written: Vec<i64>,
}

impl Drop for RequestState {
    /// The request is over (its store goes with it): what it wrote may be delivered now.
    fn drop(&mut self) {
        if let Some(release) = &self.stores.release {
            release.after_request(std::mem::take(&mut self.events_written));
        }
    }
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

/// Passes a store's answer to the component, counting failures for `/metrics`.
fn counted<T>(store: &'static str, r: StoreResult<T>) -> wasmtime::Result<StoreResult<T>> {
    if let Err(e) = &r {
        crate::metrics::METRICS.store_error(store, e);
    }
    Ok(r)
}

macro_rules! answer_from_stores {
    ($($(#[$trait_doc:meta])* $module:ident $Trait:ident $label:literal {
        $($(#[$doc:meta])* fn $op:ident($($arg:ident: $ty:ident),*) -> $ret:ty;)*
    })*) => {$(
        answer_interface!($module $label { $($op($($arg: $ty),*) -> $ret;)* });
    )*};
}

/// One interface's answers; `events` is answered by hand below (it remembers what it wrote).
macro_rules! answer_interface {
    (events $($rest:tt)*) => {};
    ($module:ident $label:literal { $($op:ident($($arg:ident: $ty:ident),*) -> $ret:ty;)* }) => {
        impl wit::$module::Host for RequestState {
            $(
                async fn $op(&mut self, $($arg: asm_contract::wit_type!($ty)),*) -> wasmtime::Result<StoreResult<$ret>> {
                    counted($label, self.stores.$module.$op($(<$ty>::from($arg)),*).await)
                }
            )*
        }
    };
}

with_store_operations!(answer_from_stores);

impl wit::events::Host for RequestState {
    async fn append(&mut self, event: NewEvent) -> wasmtime::Result<StoreResult<i64>> {
        let written = self.stores.events.append(event).await;
        if let Ok(id) = &written {
            self.events_written.push(*id);
            crate::metrics::METRICS.events.inc();
        }
        counted("events", written)
    }

    async fn withdraw(&mut self, id: i64) -> wasmtime::Result<StoreResult<()>> {
        let withdrawn = self.stores.events.withdraw(id).await;
        if withdrawn.is_ok() {
            self.events_written.retain(|w| *w != id);
        }
        counted("events", withdrawn)
    }

    async fn list_events(
        &mut self,
        filter: EventFilter,
        limit: u32,
        after: Option<String>,
    ) -> wasmtime::Result<StoreResult<EventPage>> {
        counted("events", self.stores.events.list_events(filter, limit, after).await)
    }
}

impl wit::geo::Host for RequestState {
    fn lookup(&mut self, ip: String) -> wasmtime::Result<Option<Location>> {
        Ok(self.stores.geo.lookup(&ip))
    }
}

impl wit::hashing::Host for RequestState {
    async fn begin(&mut self) -> wasmtime::Result<bool> {
        if self.hash_turn.is_none() {
            self.hash_turn = self.hashing.take().await;
            if self.hash_turn.is_some() {
                crate::metrics::METRICS.hash_turns.inc();
            }
        }
        Ok(self.hash_turn.is_some())
    }

    async fn end(&mut self) -> wasmtime::Result<()> {
        self.hash_turn = None;
        Ok(())
    }
}

impl wit::keyring::Host for RequestState {
    fn sign(&mut self, purpose: String, message: Vec<u8>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.stores.keyring.sign(&purpose, &message))
    }

    fn verify(&mut self, purpose: String, message: Vec<u8>, tag: Vec<u8>) -> wasmtime::Result<bool> {
        Ok(self.stores.keyring.verify(&purpose, &message, &tag))
    }

    fn seal(&mut self, purpose: String, plaintext: Vec<u8>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.stores.keyring.seal(&purpose, &plaintext))
    }

    fn open(&mut self, purpose: String, sealed: Vec<u8>) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.stores.keyring.open(&purpose, &sealed))
    }
}
