//! Mail delivery. The component's `mailer.send` writes each message to the outbox in the user
//! store (PostgreSQL or SQLite) inside the request; a worker here takes due messages from the
//! outbox and hands them to the mail server (`SMTP_URL`), or, in development without one, to the
//! log, one message per claim. A message that cannot be delivered stays in the outbox and is tried again later
//! (2 s, doubling, at most 5 minutes apart) until a week has passed; a permanent refusal (a 5xx
//! answer) ends it at once. Claims are leases taken with `FOR UPDATE SKIP LOCKED`, so several
//! hosts on one database never send one message at the same time.

use asm_contract::{Mail, Mailer, StoreResult};
use asm_stores::outbox::{Outbox, Queued};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How a worker delivers.
pub enum Transport {
    /// To a mail server.
    Smtp { transport: Box<AsyncSmtpTransport<Tokio1Executor>>, from: Mailbox, timeout: Duration },
    /// Into the log, link included (development without `SMTP_URL`).
    Log,
}

/// Why one delivery failed.
#[derive(Debug)]
pub enum Failure {
    /// Worth trying again (server down, busy, 4xx).
    Transient(String),
    /// Will never work (5xx, an address that cannot be written).
    Permanent(String),
}

/// The default of how long SMTP may take for one message, the whole exchange (`SMTP_TIMEOUT`).
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

impl Transport {
    /// The SMTP transport for `url` (`smtp://host:port` plain, `smtp://…?tls=required` STARTTLS,
    /// `smtps://` implicit TLS; user and password in the URL), sending as `from`.
    pub fn smtp(url: &str, from: &str, timeout: Duration) -> anyhow::Result<Transport> {
        let from: Mailbox =
            from.parse().map_err(|e| anyhow::anyhow!("MAIL_FROM is not a mail address ({e}): {from:?}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not usable: {e}"))?
            .timeout(Some(timeout))
            .build();
        Ok(Transport::Smtp { transport: Box::new(transport), from, timeout })
    }

    pub async fn deliver(&self, mail: &Mail) -> Result<(), Failure> {
        match self {
            Transport::Log => {
                tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.text, "mail (no SMTP_URL: logged, not sent)");
                Ok(())
            }
            Transport::Smtp { transport, from, timeout } => {
                let message = compose(from, mail)?;
                // lettre's own timeout covers connecting only; this covers the whole exchange.
                match tokio::time::timeout(*timeout, transport.send(message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) if e.is_permanent() => Err(Failure::Permanent(e.to_string())),
                    Ok(Err(e)) => Err(Failure::Transient(e.to_string())),
                    Err(_) => Err(Failure::Transient(format!("no answer from the mail server in {timeout:?}"))),
                }
            }
        }
    }
}

/// The message as sent: plain text and HTML alternatives. The recipient is a bare address: a
/// display name, or anything else around the address, is refused.
fn compose(from: &Mailbox, mail: &Mail) -> Result<Message, Failure> {
    let to: Address = mail.to.parse().map_err(|e| Failure::Permanent(format!("recipient {:?}: {e}", mail.to)))?;
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|e| Failure::Permanent(format!("message: {e}")))
}

/// The delay before attempt `attempts + 1`: 2 s, doubling, at most 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let secs = 2u64.saturating_pow(attempts.clamp(1, 20)).min(300);
    Duration::from_secs(secs)
}

/// How long a message is tried before it is given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);
impl Transport {
    /// How long a claim holds a message: four times the longest one delivery may take, and at
    /// least two minutes, so a message is never claimed again while it is being sent.
    pub fn lease(&self) -> Duration {
        match self {
            Transport::Smtp { timeout, .. } => (*timeout * 4).max(MIN_LEASE),
            Transport::Log => MIN_LEASE,
        }
    }
}

pub const MIN_LEASE: Duration = Duration::from_secs(120);
/// How often a worker looks for due messages without being told of one (messages queued by other
/// hosts, retries coming due).
pub const POLL: Duration = Duration::from_secs(2);
/// How long delivered and failed messages (and expired tokens) are kept.
pub const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// The component's mailer: the store's `send` (into the outbox), then a word to this host's
/// worker so the message leaves at once rather than at the next poll.
pub struct Queueing {
    pub store: Arc<dyn Mailer>,
    pub wake: Arc<Notify>,
}

#[async_trait::async_trait]
impl Mailer for Queueing {
    async fn send(&self, message: Mail) -> StoreResult<()> {
        self.store.send(message).await?;
        self.wake.notify_one();
        Ok(())
    }
}

/// Delivers one claimed message and records the outcome.
async fn deliver_one(outbox: &dyn Outbox, transport: &Transport, q: Queued, now_ms: i64) -> StoreResult<()> {
    match transport.deliver(&q.mail).await {
        Ok(()) => {
            tracing::info!(id = q.id, attempts = q.attempts, "mail delivered");
            outbox.sent(q.id).await
        }
        Err(Failure::Permanent(e)) => {
            tracing::warn!(id = q.id, error = %e, "mail refused for good; not retried");
            outbox.failed(q.id, e).await
        }
        Err(Failure::Transient(e)) if now_ms.saturating_sub(q.queued_at) > GIVE_UP_AFTER.as_millis() as i64 => {
            tracing::warn!(id = q.id, attempts = q.attempts, error = %e, "mail undeliverable for a week; given up");
            outbox.failed(q.id, e).await
        }
        Err(Failure::Transient(e)) => {
            let after = backoff(q.attempts);
            tracing::warn!(id = q.id, attempts = q.attempts, retry_in = ?after, error = %e, "mail not delivered; will retry");
            outbox.retry(q.id, after.as_millis() as u64, e).await
        }
    }
}

/// Empties the outbox until the process ends: whatever is due, whenever told of new mail or
/// every [`POLL`]; expired records are swept about hourly.
pub fn spawn_worker(outbox: Arc<dyn Outbox>, transport: Arc<Transport>, wake: Arc<Notify>) {
    tokio::spawn(async move {
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            // One message per claim: its lease outlasts its delivery (the timeout is a quarter of
            // the lease), which a lease over a batch sent one after another would not.
            match outbox.claim(1, transport.lease().as_millis() as u64).await {
                Ok(claimed) if !claimed.is_empty() => {
                    for q in claimed {
                        if let Err(e) = deliver_one(&*outbox, &transport, q, asm_stores::now_ms()).await {
                            tracing::warn!(error = %e, "could not record a delivery in the outbox");
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the mail outbox is unreachable; will retry"),
            }
            if last_sweep.elapsed() > Duration::from_secs(3600) {
                last_sweep = tokio::time::Instant::now();
                match outbox.sweep(KEEP.as_millis() as u64).await {
                    Ok(n) if n > 0 => tracing::info!(swept = n, "old mail and expired tokens removed"),
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
        let t = Transport::smtp("smtp://127.0.0.1:2525", "a@b.co", SMTP_TIMEOUT).unwrap();
        assert!(SMTP_TIMEOUT * 4 <= t.lease(), "a delivery ends well before its claim does");
        let slow = Transport::smtp("smtp://127.0.0.1:2525", "a@b.co", Duration::from_secs(300)).unwrap();
        assert_eq!(slow.lease(), Duration::from_secs(1200));
    }

    #[test]
    fn messages_carry_text_and_html_and_refuse_bad_recipients() {
        let from: Mailbox = "asm <no-reply@example.com>".parse().unwrap();
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Hi".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
        };
        let raw = String::from_utf8(compose(&from, &mail).unwrap().formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("plain") && raw.contains("<p>html</p>"), "{raw}");
        for to in ["not an address", "visit evil dot example <victim@example.com>", "a@b.co, c@d.co"] {
            let bad = Mail { to: to.into(), ..mail.clone() };
            assert!(matches!(compose(&from, &bad), Err(Failure::Permanent(_))), "{to}");
        }
    }

    #[test]
    fn smtp_urls_take_the_documented_forms() {
        assert!(Transport::smtp("smtp://127.0.0.1:2525", "asm <a@b.co>", SMTP_TIMEOUT).is_ok());
        assert!(Transport::smtp("smtps://user:pass@mail.example.com:465", "a@b.co", SMTP_TIMEOUT).is_ok());
        assert!(Transport::smtp("smtp://mail.example.com:587?tls=required", "a@b.co", SMTP_TIMEOUT).is_ok());
        assert!(Transport::smtp("http://mail.example.com", "a@b.co", SMTP_TIMEOUT).is_err());
        assert!(Transport::smtp("smtp://127.0.0.1:2525", "not an address", SMTP_TIMEOUT).is_err());
    }
}
