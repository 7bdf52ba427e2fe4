//! The outbox's workers: one loop, run once per kind of message (mail, webhooks), each with the
//! courier that delivers its kind. A worker claims one due message at a time (a lease, so several
//! hosts on one database never hold one message at once), delivers it and records the outcome:
//! delivered; refused for good; or tried again later, 2 s after the first failure and doubling,
//! at most 5 minutes apart, until a week has passed. While deliveries keep failing (the mail
//! server or the receiver is down) the worker itself pauses between claims, up to 30 s, so a
//! backlog is not spent on a receiver that is away; the first success ends the pause.
//!
//! A worker looks for due messages whenever this host queued one, and every [`POLL`] besides
//! (messages other hosts queued, retries coming due). The mail worker also sweeps, about hourly:
//! delivered and failed messages and expired tokens after [`KEEP`], events after
//! `EVENT_RETENTION`.

use asm_stores::outbox::{Kind, Message, Outbox, Queued};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Why one delivery failed.
#[derive(Debug)]
pub enum Failure {
    /// Worth trying again (server down, busy, a 5xx or 429 from a receiver).
    Transient(String),
    /// Will never work (a permanent refusal, an address that cannot be written).
    Permanent(String),
}

/// What delivers one kind of message.
#[async_trait::async_trait]
pub trait Courier: Send + Sync {
    fn kind(&self) -> Kind;
    /// How long a claim holds a message: well beyond the longest one delivery may take.
    fn lease(&self) -> Duration;
    /// How many messages one claim takes, delivered at once (never two of one order key).
    fn batch(&self) -> u32 {
        1
    }
    async fn deliver(&self, message: &Message) -> Result<(), Failure>;
}

/// The delay before attempt `attempts + 1`: 2 s, doubling, at most 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let secs = 2u64.saturating_pow(attempts.clamp(1, 20)).min(300);
    Duration::from_secs(secs)
}

/// How long a worker waits before its next claim after `failures` deliveries in a row failed:
/// nothing after none, then 1 s doubling up to 30 s.
pub fn pause(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => Duration::from_secs(1u64 << (n - 1).min(5)).min(Duration::from_secs(30)),
    }
}

/// How long a message is tried before it is given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often a worker looks for due messages without being told of one.
pub const POLL: Duration = Duration::from_secs(2);
/// How long delivered and failed messages (and expired tokens) are kept.
pub const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a delivery came to.
enum Outcome {
    Delivered,
    Retry,
    GivenUp,
}

/// Delivers one claimed message and records the outcome.
async fn deliver_one(
    outbox: &dyn Outbox,
    courier: &dyn Courier,
    q: Queued,
    now_ms: i64,
) -> (Outcome, Result<(), asm_contract::StoreError>) {
    let kind = courier.kind().as_str();
    match courier.deliver(&q.message).await {
        Ok(()) => {
            tracing::info!(kind, id = q.id, attempts = q.attempts, "delivered");
            (Outcome::Delivered, outbox.sent(q.id).await)
        }
        Err(Failure::Permanent(e)) => {
            tracing::warn!(kind, id = q.id, error = %e, "refused for good; not retried");
            (Outcome::GivenUp, outbox.failed(q.id, e).await)
        }
        Err(Failure::Transient(e)) if now_ms.saturating_sub(q.queued_at) > GIVE_UP_AFTER.as_millis() as i64 => {
            tracing::warn!(kind, id = q.id, attempts = q.attempts, error = %e, "undeliverable for a week; given up");
            (Outcome::GivenUp, outbox.failed(q.id, e).await)
        }
        Err(Failure::Transient(e)) => {
            let after = backoff(q.attempts);
            tracing::warn!(kind, id = q.id, attempts = q.attempts, retry_in = ?after, error = %e, "not delivered; will retry");
            (Outcome::Retry, outbox.retry(q.id, after.as_millis() as u64, e).await)
        }
    }
}

/// Empties the outbox of the courier's kind until the process ends. With `sweep`, also removes
/// what has been kept long enough, about hourly (events after `event_retention`).
pub fn spawn_worker(outbox: Arc<dyn Outbox>, courier: Arc<dyn Courier>, wake: Arc<Notify>, sweep: Option<Duration>) {
    tokio::spawn(async move {
        let kind = courier.kind();
        let labels = crate::metrics::KindLabels { kind: kind.as_str() };
        let m = &crate::metrics::METRICS;
        let mut last_sweep = tokio::time::Instant::now();
        let mut failures = 0u32;
        loop {
            // A batch is delivered at once, not one after another, so every lease outlasts its
            // delivery.
            match outbox.claim(kind, courier.batch(), courier.lease().as_millis() as u64).await {
                Ok(claimed) if !claimed.is_empty() => {
                    let mut deliveries = tokio::task::JoinSet::new();
                    for q in claimed {
                        let (outbox, courier) = (outbox.clone(), courier.clone());
                        deliveries
                            .spawn(async move { deliver_one(&*outbox, &*courier, q, asm_stores::now_ms()).await });
                    }
                    while let Some(done) = deliveries.join_next().await {
                        let Ok((outcome, recorded)) = done else { continue };
                        if let Err(e) = recorded {
                            tracing::warn!(kind = kind.as_str(), error = %e, "could not record a delivery in the outbox");
                        }
                        match outcome {
                            Outcome::Delivered => {
                                m.delivered.get_or_create(&labels).inc();
                                failures = 0;
                            }
                            Outcome::GivenUp => {
                                m.given_up.get_or_create(&labels).inc();
                            }
                            Outcome::Retry => {
                                m.delivery_retries.get_or_create(&labels).inc();
                                failures = failures.saturating_add(1);
                            }
                        }
                    }
                    tokio::time::sleep(pause(failures)).await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(kind = kind.as_str(), error = %e, "the outbox is unreachable; will retry"),
            }
            match outbox.backlog(kind).await {
                Ok(b) => {
                    m.pending.get_or_create(&labels).set(b.pending as i64);
                    let age = b.oldest.map_or(0.0, |t| (asm_stores::now_ms() - t).max(0) as f64 / 1000.0);
                    m.oldest_pending.get_or_create(&labels).set(age);
                }
                Err(e) => tracing::debug!(error = %e, "the outbox's backlog is unknown"),
            }
            if let Some(event_retention) = sweep
                && last_sweep.elapsed() > Duration::from_secs(3600)
            {
                last_sweep = tokio::time::Instant::now();
                match outbox.sweep(KEEP.as_millis() as u64, event_retention.as_millis() as u64).await {
                    Ok(n) if n > 0 => tracing::info!(swept = n, "old messages, expired tokens and old events removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sweeping the outbox failed"),
                }
            }
            let _ = tokio::time::timeout(POLL, wake.notified()).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_two_seconds_up_to_five_minutes() {
        let secs: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(0).as_secs(), 2);
        assert_eq!(backoff(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn a_worker_pauses_longer_while_deliveries_keep_failing() {
        let secs: Vec<u64> = (0..=8).map(|n| pause(n).as_secs()).collect();
        assert_eq!(secs, [0, 1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(pause(u32::MAX).as_secs(), 30);
    }
}
