//! The outbox a host's delivery worker empties: mail the component handed to `mailer.send`,
//! written in the request and delivered later (`host/src/mail.rs`). The PostgreSQL outbox is
//! [`crate::postgres::PostgresOutbox`]; the embedded SQLite one is the native host's.

use asm_contract::{Mail, StoreResult};

/// A message claimed from an outbox for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub mail: Mail,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
    /// When it was queued, in Unix ms.
    pub queued_at: i64,
}

/// An outbox a delivery worker takes messages from: claims are leases, so several workers on one
/// outbox never hold the same message at once.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` due messages that no worker holds, each held for `lease_ms`.
    async fn claim(&self, limit: u32, lease_ms: u64) -> StoreResult<Vec<Queued>>;
    /// The message was delivered.
    async fn sent(&self, id: i64) -> StoreResult<()>;
    /// Delivery failed; the message is due again in `after_ms`.
    async fn retry(&self, id: i64, after_ms: u64, error: String) -> StoreResult<()>;
    /// Delivery failed for good.
    async fn failed(&self, id: i64, error: String) -> StoreResult<()>;
    /// Drops delivered and failed messages, and expired tokens, older than `keep_ms`.
    async fn sweep(&self, keep_ms: u64) -> StoreResult<u64>;
}
