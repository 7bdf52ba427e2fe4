//! The counters a check passes before it runs (docs/SECURITY.md, "Lock-out"): each gate is a
//! key in the session store with a limit of failures per window. Only [`super::Attempt`] admits
//! checks through them; the mail limits charge requests to them ([`charge`]).
//!
//! - A gate admits a check only while failures and checks in flight stay under its limit, so
//!   parallel guesses cannot outrun it. Only failures count: a check that succeeds gives its
//!   place back. When checks in flight fill a gate, the request waits for them, so parallel
//!   correct logins are not turned away.
//! - Keys hold digests and ids, never an address typed by a person.

use crate::config::Settings;
use crate::envelope::ApiError;
use crate::host::Host;
use crate::token::hex_sha256;
use crate::validation::Email;
use asm_contract::{AttemptGate, Lock, StoreError, StoreResult};
use std::net::IpAddr;
use std::time::Duration;

/// One counter a check must pass.
pub struct Gate {
    pub key: String,
    pub limit: u32,
    pub window: Duration,
}

impl Gate {
    /// Failed checks from one client address, across accounts.
    pub fn address(s: &Settings, ip: IpAddr) -> Gate {
        Gate { key: format!("login:ip:{ip}"), limit: s.login_ip_max_attempts, window: s.login_ip_window }
    }

    /// Failed password checks of an account: from one trusted device (its own counter), or from
    /// every other client together (the email's).
    pub fn account(s: &Settings, email: &Email, device: Option<&str>) -> Gate {
        Gate { key: account_key(email, device), limit: s.login_max_attempts, window: s.login_window }
    }

    /// Failed second factors of an account, from every client and every device together: a
    /// device cookie earns no guesses at the code.
    pub fn second_factor(s: &Settings, user_id: &str) -> Gate {
        Gate { key: second_factor_key(user_id), limit: s.login_max_attempts, window: s.login_window }
    }
}

/// The counter of an account's password checks from this device, or from every untrusted client.
pub fn account_key(email: &Email, device: Option<&str>) -> String {
    match device {
        Some(device) => format!("login:device:{device}"),
        None => format!("login:email:{}", hex_sha256(email.as_str().as_bytes())),
    }
}

/// The counter of an account's second factors.
pub fn second_factor_key(user_id: &str) -> String {
    format!("mfa:user:{user_id}")
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

    /// Seconds until it is worth asking again.
    fn retry_after_secs(&self) -> u64 {
        let ms = match self {
            Refusal::Locked(lock) => lock.retry_after_ms,
            _ => BUSY_RETRY_MS,
        };
        ms.div_ceil(1000).max(1)
    }

    /// As a refused login or check.
    pub fn into_attempt_error(self) -> ApiError {
        match self {
            Refusal::Store(e) => e.into(),
            r => ApiError::TooManyAttempts { retry_after_secs: r.retry_after_secs() },
        }
    }

    /// As a refused mail request.
    pub fn into_request_error(self) -> ApiError {
        match self {
            Refusal::Store(e) => e.into(),
            r => ApiError::TooManyRequests { retry_after_secs: r.retry_after_secs() },
        }
    }
}

/// Checks admitted through their gates, to be reported with [`finish`].
pub struct Admitted(Vec<(String, u64)>);

/// How long a check waits for others in flight before giving up with a 429.
const BUSY_WAIT_MS: u64 = 3_000;
/// The first pause before asking a busy gate again; each later one doubles, up to the longest.
const FIRST_PAUSE_MS: u64 = 25;
const LONGEST_PAUSE_MS: u64 = 200;
/// What a busy gate's 429 tells the client to wait.
const BUSY_RETRY_MS: u64 = 1_000;

/// Passes every gate, in order, or none: a refusal gives back the places already taken.
pub async fn admit(host: &Host<'_>, gates: &[Gate]) -> Result<Admitted, Refusal> {
    let mut admitted = Vec::with_capacity(gates.len());
    for gate in gates {
        let window = gate.window.as_millis() as u64;
        let mut pause = FIRST_PAUSE_MS;
        let mut waited = 0;
        let refusal = loop {
            match host.sessions.begin_attempt(gate.key.clone(), gate.limit, window).await {
                Ok(AttemptGate::Admitted) => break None,
                Ok(AttemptGate::Locked(lock)) => break Some(Refusal::Locked(lock)),
                Ok(AttemptGate::Busy) if waited < BUSY_WAIT_MS => {
                    host.system.sleep_ms(pause);
                    waited += pause;
                    pause = (pause * 2).min(LONGEST_PAUSE_MS);
                }
                Ok(AttemptGate::Busy) => break Some(Refusal::Busy),
                // A store that does not answer: nothing was counted here; the caller gets a 503.
                Err(e) => break Some(Refusal::Store(e)),
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
pub async fn finish(host: &Host<'_>, admitted: Admitted, failed: bool) -> StoreResult<()> {
    for (key, window) in admitted.0 {
        host.sessions.end_attempt(key, failed, window).await?;
    }
    Ok(())
}

/// Counts one request against every gate at once, or refuses it: for limits on requests that
/// are not checks (mail), where every request counts as a failure would.
pub async fn charge(host: &Host<'_>, gates: &[Gate]) -> Result<(), Refusal> {
    let admitted = admit(host, gates).await?;
    finish(host, admitted, true).await.map_err(Refusal::Store)
}
