//! Mail delivery. The component's `mailer.send` writes each message to the outbox in the user
//! store (PostgreSQL or SQLite) inside the request; the outbox's worker (`crate::outbox`) hands
//! due mail to this courier: the mail server (`SMTP_URL`), or, in development without one, the
//! log. A permanent refusal (a 5xx answer) ends a message at once; anything else is tried again.

use crate::outbox::{Courier, Failure};
use asm_contract::{Mail, Mailer, StoreResult};
use asm_stores::outbox::{Kind, Message as OutboxMessage};
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

#[async_trait::async_trait]
impl Courier for Transport {
    fn kind(&self) -> Kind {
        Kind::Mail
    }

    fn lease(&self) -> Duration {
        Transport::lease(self)
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), Failure> {
        match message {
            OutboxMessage::Mail(mail) => Transport::deliver(self, mail).await,
            OutboxMessage::Webhook(_) => Err(Failure::Permanent("a webhook in the mail queue".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_ends_well_before_its_claim_does() {
        let t = Transport::smtp("smtp://127.0.0.1:2525", "a@b.co", SMTP_TIMEOUT).unwrap();
        assert!(SMTP_TIMEOUT * 4 <= t.lease());
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
