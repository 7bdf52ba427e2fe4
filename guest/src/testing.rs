//! For tests and fuzzing of the logic natively (the `testing` feature): a system whose clock the
//! test moves and whose randomness is a counter, so runs repeat exactly.

use crate::host::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};

/// A clock that moves only when told (sleeping moves it too) and randomness that counts up.
pub struct FakeSystem {
    pub now: Arc<AtomicI64>,
    seed: AtomicU8,
}

impl FakeSystem {
    /// Starting at `now_ms`; the clock can be shared with a store's through [`FakeSystem::now`].
    pub fn starting_at(now_ms: i64) -> FakeSystem {
        FakeSystem { now: Arc::new(AtomicI64::new(now_ms)), seed: AtomicU8::new(0) }
    }

    /// Moves the clock on.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// A clock for a store, reading this one.
    pub fn clock(&self) -> Arc<dyn Fn() -> i64 + Send + Sync> {
        let now = self.now.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    }
}

impl System for FakeSystem {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn random_bytes(&self, len: usize) -> Vec<u8> {
        vec![self.seed.fetch_add(1, Ordering::SeqCst).wrapping_add(1); len]
    }

    fn sleep_ms(&self, ms: u64) {
        self.now.fetch_add(ms as i64, Ordering::SeqCst);
    }
}
