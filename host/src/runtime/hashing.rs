//! Turns at hashing passwords (the `hashing` import). A password hash is the one thing the
//! component does that costs a quarter of a second of CPU; a flood of sign-ins would otherwise
//! fill every worker with hashes and leave session checks waiting behind them. So at most
//! `concurrency` hashes run at once, at most `queue` requests wait for a turn (each no longer
//! than `wait`), and the rest are told at once to come back (503 with `Retry-After`).
//!
//! A turn belongs to the request's store: it is given back when the component says so, or when
//! the request ends, however it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct HashGate {
    turns: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
}

impl HashGate {
    pub fn new(concurrency: u32, queue: u32, wait: Duration) -> HashGate {
        HashGate {
            turns: Arc::new(Semaphore::new(concurrency.max(1) as usize)),
            waiting: AtomicUsize::new(0),
            queue: queue as usize,
            wait,
        }
    }

    /// A turn, after waiting for one if the queue has room; none when the queue is full or no
    /// turn came in time.
    pub async fn take(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(turn) = self.turns.clone().try_acquire_owned() {
            return Some(turn);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            crate::metrics::METRICS.hash_refused.inc();
            return None;
        }
        let turn = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match turn {
            Ok(Ok(turn)) => Some(turn),
            _ => {
                crate::metrics::METRICS.hash_refused.inc();
                None
            }
        }
    }

    /// Requests waiting for a turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// The number of turns by default: half the machine's cores, at least one, so hashing can never
/// take more than half the CPU from everything else.
pub fn default_concurrency() -> u32 {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores / 2).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_bounded_and_the_queue_too() {
        let gate = Arc::new(HashGate::new(1, 1, Duration::from_millis(200)));
        let first = gate.take().await.expect("a free turn");
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.take().await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.waiting(), 1);
        assert!(gate.take().await.is_none(), "the queue holds one: the next is refused at once");
        drop(first);
        assert!(waiter.await.unwrap(), "the waiter gets the turn given back");
        let _held = gate.take().await.unwrap();
        let started = std::time::Instant::now();
        assert!(gate.take().await.is_none(), "no turn within the wait");
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
