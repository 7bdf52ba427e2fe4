//! What the component needs from whoever runs it.

use asm_contract::{Events, Geo, Hashing, Keyring, Mailer, SessionStore, UserStore};

/// The stores, lookups, keys, mailer and hashing turns of `wit/asm.wit`, and the system's clock and
/// randomness. In
/// the component they are the imports (`component.rs`); natively, whatever the caller passes.
#[derive(Clone, Copy)]
pub struct Host<'a> {
    pub users: &'a dyn UserStore,
    pub sessions: &'a dyn SessionStore,
    pub geo: &'a dyn Geo,
    pub keyring: &'a dyn Keyring,
    pub mailer: &'a dyn Mailer,
    pub events: &'a dyn Events,
    pub hashing: &'a dyn Hashing,
    pub system: &'a dyn System,
}

/// The clock, the randomness and waiting.
pub trait System: Send + Sync {
    /// Wall-clock time in Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// Bytes from a CSPRNG.
    fn random_bytes(&self, len: usize) -> Vec<u8>;
    /// Waits, without using the CPU.
    fn sleep_ms(&self, ms: u64);
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

    fn sleep_ms(&self, ms: u64) {
        // In the component the host suspends the instance until then (a WASI poll).
        #[cfg(target_arch = "wasm32")]
        wasip2::clocks::monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
        #[cfg(not(target_arch = "wasm32"))]
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
