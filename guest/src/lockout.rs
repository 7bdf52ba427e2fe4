//! Brute-force protection: the counters a password check passes, and the device cookies that
//! keep a stranger's guesses from locking the owner's known browsers out (docs/SECURITY.md,
//! "Lock-out").
//!
//! - A check passes two gates: its client address (`LOGIN_IP_MAX_ATTEMPTS` failures per
//!   `LOGIN_IP_WINDOW`, across accounts), then its account: the device's own counter when the
//!   request carries a valid device cookie for this email, else the counter every other client
//!   of the account shares (`LOGIN_MAX_ATTEMPTS` per `LOGIN_LOCKOUT_WINDOW`).
//! - A gate admits a check only while failures and checks in flight stay under its limit, so
//!   parallel guesses cannot outrun it. Only failures count: a check that succeeds gives its
//!   place back. When checks in flight fill a gate, the request waits for them, so parallel
//!   correct logins are not turned away.
//! - A device cookie is issued at every successful login: 16 random bytes and the account's
//!   email digest, with a MAC from the host's keyring. Unknown emails are counted like known ones.

use crate::client::Client;
use crate::config::Settings;
use crate::envelope::ApiError;
use crate::host::Host;
use crate::http::Request;
use crate::token::{hex, hex_sha256};
use crate::validation::Email;
use asm_contract::{AttemptGate, Keyring, Lock, StoreError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// One counter a check must pass.
pub struct Gate {
    pub key: String,
    pub limit: u32,
    pub window: Duration,
}

/// Why a check was not admitted.
#[derive(Debug)]
pub enum Refusal {
    /// Too many failures in the window.
    Locked(Lock),
    /// Checks in flight still filled the gate after waiting for them.
    Busy,
    /// The store did not answer.
    Store(StoreError),
}

impl Refusal {
    /// The first check a lock refused in its window (the one worth recording).
    pub fn first_locked(&self) -> bool {
        matches!(self, Refusal::Locked(lock) if lock.first)
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        let retry_after_ms = match r {
            Refusal::Locked(lock) => lock.retry_after_ms,
            Refusal::Busy => 1000,
            Refusal::Store(e) => return e.into(),
        };
        ApiError::TooManyAttempts { retry_after_secs: retry_after_ms.div_ceil(1000).max(1) }
    }
}

/// Checks admitted through their gates, to be reported with [`finish`].
pub struct Admitted(Vec<(String, u64)>);

/// How long a check waits for others in flight before giving up with a 429.
const BUSY_WAIT_MS: u64 = 3_000;

/// The gates of a password check for `email`: the client's address, then the device's counter
/// (`device`, from [`trusted_device`]) or the account's.
pub fn gates(s: &Settings, client: &Client, email: &Email, device: Option<&str>) -> Vec<Gate> {
    let mut gates = Vec::with_capacity(2);
    if let Some(ip) = client.ip {
        gates.push(Gate { key: format!("login:ip:{ip}"), limit: s.login_ip_max_attempts, window: s.login_ip_window });
    }
    gates.push(Gate { key: account_key(email, device), limit: s.login_max_attempts, window: s.login_window });
    gates
}

/// The counter of the account's checks from this device, or from every untrusted client. Keys
/// hold digests, never addresses.
pub fn account_key(email: &Email, device: Option<&str>) -> String {
    match device {
        Some(device) => format!("login:device:{device}"),
        None => format!("login:email:{}", hex_sha256(email.as_str().as_bytes())),
    }
}

/// Passes every gate, in order, or none: a refusal gives back the places already taken.
pub async fn admit(host: &Host<'_>, gates: &[Gate]) -> Result<Admitted, Refusal> {
    let mut admitted = Vec::with_capacity(gates.len());
    for gate in gates {
        let window = gate.window.as_millis() as u64;
        let mut waited = 0;
        let refusal = loop {
            match host.sessions.begin_attempt(gate.key.clone(), gate.limit, window).await {
                Ok(AttemptGate::Admitted) => break None,
                Ok(AttemptGate::Locked(lock)) => break Some(Refusal::Locked(lock)),
                Ok(AttemptGate::Busy) if waited < BUSY_WAIT_MS => {
                    let pause = (25 << (waited / 200).min(3)).min(200);
                    host.system.sleep_ms(pause);
                    waited += pause;
                }
                Ok(AttemptGate::Busy) => break Some(Refusal::Busy),
                // A store that does not answer: nothing was counted here; the caller gets a 503.
                Err(e) => {
                    let _ = finish(host, Admitted(admitted), false).await;
                    return Err(Refusal::Store(e));
                }
            }
        };
        match refusal {
            None => admitted.push((gate.key.clone(), window)),
            Some(r) => {
                let _ = finish(host, Admitted(admitted), false).await;
                return Err(r);
            }
        }
    }
    Ok(Admitted(admitted))
}

/// Reports the end of admitted checks: `failed` counts toward every gate's limit.
pub async fn finish(host: &Host<'_>, admitted: Admitted, failed: bool) -> Result<(), ApiError> {
    for (key, window) in admitted.0 {
        host.sessions.end_attempt(key, failed, window).await?;
    }
    Ok(())
}

/// How long a device cookie lasts.
pub const DEVICE_COOKIE_DAYS: u64 = 180;
const PURPOSE: &str = "device-cookie";
const FORMAT: u8 = 1;

/// The name of the device cookie: the session cookie's, with `_device` after it.
pub fn device_cookie_name(s: &Settings) -> String {
    format!("{}_device", s.cookie_name)
}

fn email_digest(email: &Email) -> [u8; 16] {
    let digest = Sha256::digest(email.as_str().as_bytes());
    digest[..16].try_into().expect("a SHA-256 digest has 32 bytes")
}

/// The id of the device, when the request carries exactly one device cookie, made by this
/// service's keys for this email.
pub fn trusted_device(req: &Request, s: &Settings, keyring: &dyn Keyring, email: &Email) -> Option<String> {
    let [value] = crate::auth::cookie_values(req, &device_cookie_name(s))[..] else { return None };
    let (payload, tag) = value.split_once('.')?;
    let (payload, tag) = (URL_SAFE_NO_PAD.decode(payload).ok()?, URL_SAFE_NO_PAD.decode(tag).ok()?);
    if payload.len() != 33 || payload[0] != FORMAT || payload[1..17] != email_digest(email) {
        return None;
    }
    keyring.verify(PURPOSE, &payload, &tag).then(|| hex(&payload[17..]))
}

/// A new device cookie for the account with this email (`Set-Cookie` value).
pub fn device_cookie(host: &Host<'_>, s: &Settings, email: &Email) -> String {
    let mut payload = vec![FORMAT];
    payload.extend_from_slice(&email_digest(email));
    payload.extend_from_slice(&host.system.random_bytes(16));
    let tag = host.keyring.sign(PURPOSE, &payload);
    let value = format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag));
    let secure = if s.cookie_secure { "; Secure" } else { "" };
    let max_age = DEVICE_COOKIE_DAYS * 24 * 3600;
    format!("{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", device_cookie_name(s))
}
