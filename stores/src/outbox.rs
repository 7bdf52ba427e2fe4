//! The outbox a host's delivery workers empty: one table, two kinds of message. Mail the
//! component handed to `mailer.send`, and the webhook delivery of an event `events.append` wrote
//! (where webhooks are on), both written in the request and delivered later (`host/src/mail.rs`,
//! `host/src/webhooks.rs`, one worker loop for both). The PostgreSQL outbox is
//! [`crate::postgres::PostgresOutbox`]; the embedded SQLite one is the native host's.
//!
//! Webhook deliveries of one account go out in the order of their events: a delivery is not
//! claimed while an earlier one with its order key (the account) is undelivered. A delivery is
//! written held (due only after [`HOLD_MS`]) and released by the host when the request that
//! wrote it has ended, so a receiver never hears of a change before it is made, nor of one that
//! was taken back.

use asm_contract::{Event, Mail, StoreResult};

/// How long a webhook delivery waits for the request that wrote it to release it: longer than a
/// request may run. A host that cannot release (Spin) delivers after it.
pub const HOLD_MS: u64 = 60_000;

/// What an outbox row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mail,
    Webhook,
}

impl Kind {
    /// Its name in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mail => "mail",
            Kind::Webhook => "webhook",
        }
    }
}

/// A message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Mail(Mail),
    /// The event as it is now (emptied if its account was erased since).
    Webhook(Event),
}

/// A message claimed from an outbox for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub message: Message,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
    /// When it was queued, in Unix ms.
    pub queued_at: i64,
}

/// What is waiting, of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Messages neither delivered nor given up.
    pub pending: u64,
    /// When the oldest of them was queued, in Unix ms.
    pub oldest: Option<i64>,
}

/// An outbox delivery workers take messages from: claims are leases, so several workers on one
/// outbox never hold the same message at once.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` due messages of `kind` that no worker holds, each held for `lease_ms`; a
    /// webhook delivery only once every earlier one of its account is delivered or given up.
    async fn claim(&self, kind: Kind, limit: u32, lease_ms: u64) -> StoreResult<Vec<Queued>>;
    /// The message was delivered.
    async fn sent(&self, id: i64) -> StoreResult<()>;
    /// Delivery failed; the message is due again in `after_ms`.
    async fn retry(&self, id: i64, after_ms: u64, error: String) -> StoreResult<()>;
    /// Delivery failed for good.
    async fn failed(&self, id: i64, error: String) -> StoreResult<()>;
    /// Makes the held deliveries of these events due now: their request has ended.
    async fn release(&self, event_ids: Vec<i64>) -> StoreResult<()>;
    /// What is waiting, of `kind`.
    async fn backlog(&self, kind: Kind) -> StoreResult<Backlog>;
    /// Drops delivered and failed messages and expired tokens older than `keep_ms`, and events
    /// (with any delivery still waiting) older than `event_retention_ms`; how many rows went.
    async fn sweep(&self, keep_ms: u64, event_retention_ms: u64) -> StoreResult<u64>;
}
