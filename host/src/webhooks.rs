//! Webhooks: the outbox's worker for kind `webhook` posts each event to `WEBHOOK_URL` as a
//! Standard Webhooks message, signed with `WEBHOOK_SECRET` (the `standardwebhooks` crate, the
//! specification's own library): `webhook-id` (the event's id, the same on every attempt, for
//! the receiver to drop repeats), `webhook-timestamp` (this attempt, Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
//!
//! A 2xx answer delivers it. A 5xx, 408, 425, 429, a timeout or no connection is tried again
//! with backoff (`crate::outbox`); any other answer is a refusal for good, logged, and the next
//! event of the account goes out. Deliveries of one account go in the order of its events.
//!
//! A delivery is written with its event, held, and released when the request that wrote it ends
//! ([`Release`]): a receiver hears of a change only once the request that made it is over, and
//! never of one the request took back.

use crate::outbox::{Courier, Failure};
use asm_contract::event_json;
use asm_stores::outbox::{Kind, Message, Outbox};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The default of how long a receiver may take to answer (`WEBHOOK_TIMEOUT`).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Webhooks {
    url: url::Url,
    signer: standardwebhooks::Webhook,
    http: reqwest::Client,
    timeout: Duration,
}

impl Webhooks {
    /// Posts to `url` (http or https), signing with `secret` (`whsec_` and base64 of at least
    /// 24 bytes, as Standard Webhooks writes a secret).
    pub fn new(url: &str, secret: &str, timeout: Duration) -> anyhow::Result<Webhooks> {
        let url = url::Url::parse(url.trim()).map_err(|e| anyhow::anyhow!("WEBHOOK_URL is not a URL ({e})"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host().is_some(),
            "WEBHOOK_URL must be an http:// or https:// URL"
        );
        let secret = secret.trim();
        anyhow::ensure!(
            secret.starts_with("whsec_"),
            "WEBHOOK_SECRET must be written as Standard Webhooks writes secrets: whsec_ and base64 (`echo whsec_$(openssl rand -base64 32)`)"
        );
        let signer = standardwebhooks::Webhook::new(secret)
            .map_err(|e| anyhow::anyhow!("WEBHOOK_SECRET is not whsec_ and base64: {e}"))?;
        use base64::Engine as _;
        let key_len =
            base64::engine::general_purpose::STANDARD.decode(&secret["whsec_".len()..]).map_or(0, |k| k.len());
        anyhow::ensure!(key_len >= 24, "WEBHOOK_SECRET must hold at least 24 random bytes (it holds {key_len})");
        // Receivers are reached as configured: no redirects to follow elsewhere.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("asm-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Webhooks { url, signer, http, timeout })
    }

    /// The headers and body of one attempt to deliver `event`, signed for `timestamp`.
    pub fn message(&self, event: &asm_contract::Event, timestamp: i64) -> Result<(String, String, String), Failure> {
        let id = event_json::public_id(event.id);
        let body = event_json::webhook_body(event);
        let signature = self
            .signer
            .sign(&id, timestamp, body.as_bytes())
            .map_err(|e| Failure::Permanent(format!("signing: {e}")))?;
        Ok((id, signature, body))
    }
}

#[async_trait::async_trait]
impl Courier for Webhooks {
    fn kind(&self) -> Kind {
        Kind::Webhook
    }

    fn lease(&self) -> Duration {
        (self.timeout * 4).max(Duration::from_secs(60))
    }

    /// Deliveries of different accounts go out together; one account's stay in order.
    fn batch(&self) -> u32 {
        32
    }

    async fn deliver(&self, message: &Message) -> Result<(), Failure> {
        let Message::Webhook(event) = message else {
            return Err(Failure::Permanent("mail in the webhook queue".into()));
        };
        let timestamp = asm_stores::now_ms() / 1000;
        let (id, signature, body) = self.message(event, timestamp)?;
        let sent = self
            .http
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status().is_server_error() || matches!(r.status().as_u16(), 408 | 425 | 429) => {
                Err(Failure::Transient(format!("the receiver answered {}", r.status())))
            }
            Ok(r) => Err(Failure::Permanent(format!("the receiver refused it: {}", r.status()))),
            Err(e) if e.is_timeout() => Err(Failure::Transient(format!("no answer in {:?}", self.timeout))),
            Err(e) => Err(Failure::Transient(format!("the receiver could not be reached: {e}"))),
        }
    }
}

/// Releases the held deliveries of the events a request wrote, once the request has ended, and
/// tells this host's webhook worker.
pub struct Release {
    pub outbox: Arc<dyn Outbox>,
    pub wake: Arc<Notify>,
}

impl Release {
    /// Releases them in the background (the request has answered by then).
    pub fn after_request(self: &Arc<Self>, event_ids: Vec<i64>) {
        if event_ids.is_empty() {
            return;
        }
        let release = self.clone();
        tokio::spawn(async move {
            match release.outbox.release(event_ids).await {
                Ok(()) => release.wake.notify_one(),
                // Held deliveries go out when their hold runs out.
                Err(e) => {
                    tracing::warn!(error = %e, "could not release webhook deliveries; they go out after their hold")
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asm_contract::{Event, EventType};

    #[test]
    fn settings_are_checked_at_start() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(Webhooks::new("https://hooks.example.com/asm", secret, WEBHOOK_TIMEOUT).is_ok());
        assert!(Webhooks::new("ftp://hooks.example.com", secret, WEBHOOK_TIMEOUT).is_err());
        assert!(
            Webhooks::new("https://hooks.example.com", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", WEBHOOK_TIMEOUT).is_err()
        );
        assert!(Webhooks::new("https://hooks.example.com", "whsec_c2hvcnQ=", WEBHOOK_TIMEOUT).is_err(), "5 bytes");
        assert!(Webhooks::new("https://hooks.example.com", "whsec_not base64!", WEBHOOK_TIMEOUT).is_err());
    }

    #[test]
    fn every_attempt_is_signed_for_its_own_time_under_the_events_id() {
        let hooks =
            Webhooks::new("http://127.0.0.1:9", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", WEBHOOK_TIMEOUT).unwrap();
        let e = Event {
            id: 7,
            event_type: EventType::UserCreated,
            user_id: Some("u".into()),
            at: 1_700_000_000_000,
            ip_address: String::new(),
            data: "{}".into(),
        };
        let (id, first, body) = hooks.message(&e, 1_700_000_000).unwrap();
        let (again, second, same) = hooks.message(&e, 1_700_000_060).unwrap();
        assert_eq!((id.as_str(), again.as_str()), ("evt_7", "evt_7"));
        assert_eq!(body, same);
        assert!(first.starts_with("v1,") && second.starts_with("v1,") && first != second);
    }
}
