//! What the component needs from whoever runs it.

use asm_contract::{Geo, SessionStore, UserStore};

/// The stores and lookups of `wit/asm.wit`, and the system's clock and randomness. In the
/// component they are the imports (`component.rs`); natively, whatever the caller passes.
#[derive(Clone, Copy)]
pub struct Host<'a> {
    pub users: &'a dyn UserStore,
    pub sessions: &'a dyn SessionStore,
    pub geo: &'a dyn Geo,
    pub system: &'a dyn System,
}

/// The clock and the randomness.
pub trait System: Send + Sync {
    /// Wall-clock time in Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// Bytes from a CSPRNG.
    fn random_bytes(&self, len: usize) -> Vec<u8>;
}

/// The operating system's: in the component that is WASI (`wasi:clocks`, `wasi:random`).
pub struct Os;

impl System for Os {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_millis() as i64
    }

    fn random_bytes(&self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        getrandom::fill(&mut bytes).expect("the system's CSPRNG answers");
        bytes
    }
}
