//! One check of a credential, from its gates to its verdict. [`Attempt::begin`] is the only way
//! past the gates, [`Attempt::end`] (which consumes the attempt) the only way to report what the
//! check found, and [`Passed`] the only proof a sign-in can be completed with: the steps cannot
//! be taken out of order, and a verdict cannot be lost on the way (an error in the check gives
//! the places back without counting a failure).

use super::gates::{self, Admitted, Gate};
use super::{device_cookie, record};
use crate::client::Client;
use crate::envelope::ApiError;
use crate::routes::Ctx;
use crate::validation::Email;
use asm_contract::{EventType, LoginOutcome, User};
use serde_json::json;
use std::time::Duration;

/// Whom a check is about: the email, its account when there is one, and the device the request
/// comes from when it carries one of that account's trusted device cookies.
pub struct Subject {
    pub email: Email,
    pub user: Option<User>,
    pub device: Option<String>,
}

impl Subject {
    /// Whoever an email names. The account is read whether or not there is one, so an unknown
    /// email costs the same work as a known one.
    pub async fn by_email(cx: &Ctx<'_>, email: Email) -> Result<Subject, ApiError> {
        let user = cx.host.users.find_user_by_email(email.as_str().to_string()).await?;
        Ok(Subject::of(cx, email, user))
    }

    /// An account already found (the signed-in user, the account a token is for).
    pub fn account(cx: &Ctx<'_>, user: User) -> Result<Subject, ApiError> {
        let email = Email::of_account(&user.email)?;
        Ok(Subject::of(cx, email, Some(user)))
    }

    fn of(cx: &Ctx<'_>, email: Email, user: Option<User>) -> Subject {
        let device = device_cookie::trusted(cx.req, cx.settings, cx.host.keyring, &email, user.as_ref());
        Subject { email, user, device }
    }
}

/// What a check verifies: it decides the gates, what a failure answers and what is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check<'t> {
    /// A password at sign-in; failures and locks go into the account's history.
    Login,
    /// The signed-in user's password again, before a sensitive change (the request field).
    Recheck(&'static str),
    /// A second factor at a sign-in's second step, which also has its token's own limit.
    SecondStep { token_hash: &'t str },
    /// A code confirming a TOTP enrolment.
    Enrolment,
    /// The signed-in user's second factor again, before a change that needs more than the
    /// password (deleting the account); names the request field.
    SecondFactorAgain(&'static str),
}

/// Wrong codes one second-step token allows, and how long it lives.
pub const SECOND_STEP_TRIES: u32 = 5;
pub const SECOND_STEP_LIFETIME: Duration = Duration::from_secs(5 * 60);

impl Check<'_> {
    /// The gates, in the order they are passed. Every check passes its client address; a
    /// password passes the account's counter (the device's own, for a trusted device); a second
    /// factor passes the account's one second-factor counter, which no device cookie multiplies.
    fn gates(self, cx: &Ctx<'_>, client: &Client, subject: &Subject) -> Vec<Gate> {
        let s = cx.settings;
        let mut gates = Vec::with_capacity(4);
        if let Some(ip) = client.ip {
            gates.push(Gate::address(s, ip));
        }
        let user_id = subject.user.as_ref().map_or("", |u| u.id.as_str());
        match self {
            Check::Login | Check::Recheck(_) => gates.push(Gate::account(s, &subject.email, subject.device.as_deref())),
            Check::SecondStep { token_hash } => {
                gates.push(Gate::account(s, &subject.email, subject.device.as_deref()));
                gates.push(Gate::second_factor(s, user_id));
                gates.push(Gate {
                    key: format!("mfa:token:{token_hash}"),
                    limit: SECOND_STEP_TRIES,
                    window: SECOND_STEP_LIFETIME,
                });
            }
            Check::Enrolment | Check::SecondFactorAgain(_) => gates.push(Gate::second_factor(s, user_id)),
        }
        gates
    }

    /// What a check that found the credential wrong answers.
    fn failure(self) -> ApiError {
        match self {
            Check::Login => ApiError::InvalidCredentials,
            Check::Recheck(field) => ApiError::WrongPassword(field),
            Check::SecondStep { .. } => ApiError::MfaFailed,
            Check::Enrolment => ApiError::WrongCode,
            Check::SecondFactorAgain(field) => ApiError::WrongFactor(field),
        }
    }

    /// The counters a passed check clears once its step is done: the account's password counter
    /// it passed, and for a second factor the account's second-factor counter.
    fn forgiven(self, subject: &Subject) -> Vec<String> {
        let password = || gates::account_key(&subject.email, subject.device.as_deref());
        let second_factor = || gates::second_factor_key(subject.user.as_ref().map_or("", |u| u.id.as_str()));
        match self {
            Check::Login | Check::Recheck(_) => vec![password()],
            Check::SecondStep { .. } => vec![password(), second_factor()],
            Check::Enrolment | Check::SecondFactorAgain(_) => vec![second_factor()],
        }
    }

    /// What a sign-in's history records of a wrong credential, when it records it.
    fn recorded_failure(self) -> Option<LoginOutcome> {
        match self {
            Check::Login => Some(LoginOutcome::InvalidCredentials),
            Check::SecondStep { .. } => Some(LoginOutcome::MfaFailed),
            Check::Recheck(_) | Check::Enrolment | Check::SecondFactorAgain(_) => None,
        }
    }
}

/// A check admitted through its gates, waiting for its verdict.
#[must_use = "an attempt must be ended with its verdict, or its places stay taken"]
pub struct Attempt<'c, 't> {
    cx: &'c Ctx<'c>,
    client: Client<'c>,
    subject: Subject,
    check: Check<'t>,
    admitted: Admitted,
}

impl<'c, 't> Attempt<'c, 't> {
    /// Passes the check's gates, or says why not (429 with `Retry-After`, or 503). The first
    /// refusal of a lock on a sign-in is recorded in the account's history.
    pub async fn begin(cx: &'c Ctx<'c>, subject: Subject, check: Check<'t>) -> Result<Attempt<'c, 't>, ApiError> {
        let client = Client::of(cx.req, cx.settings, cx.host.geo);
        let gates = check.gates(cx, &client, &subject);
        match gates::admit(cx.host, &gates).await {
            Ok(admitted) => Ok(Attempt { cx, client, subject, check, admitted }),
            Err(refusal) => {
                if check == Check::Login && refusal.first_locked() {
                    record(cx, &client, &subject.email, LoginOutcome::Locked).await?;
                    // Of an account or not, the same event (without one, it names none).
                    let user = subject.user.as_ref().map(|u| u.id.as_str());
                    cx.record(EventType::LoginLocked, user, json!({ "by": "password" })).await?;
                }
                Err(refusal.into_attempt_error())
            }
        }
    }

    /// Whom the check is about.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// Reports the check's verdict: a wrong credential counts as a failure on every gate (and
    /// is recorded for a sign-in); an error counts nothing and is passed on.
    pub async fn end(self, verdict: Result<bool, ApiError>) -> Result<Passed<'c>, ApiError> {
        let Attempt { cx, client, subject, check, admitted } = self;
        let failed = matches!(verdict, Ok(false));
        // A failed sign-in is an event, of an account or of an address without one (the same
        // work either way). The failure is counted whatever becomes of its event: a lock-out
        // never waits on the audit trail (a 503 then says the event is missing).
        let event = match check.recorded_failure() {
            Some(outcome) if failed => {
                let reason = if outcome == LoginOutcome::MfaFailed { "second_factor" } else { "password" };
                let user = subject.user.as_ref().map(|u| u.id.as_str());
                cx.record(EventType::LoginFailed, user, json!({ "reason": reason })).await
            }
            _ => Ok(()),
        };
        gates::finish(cx.host, admitted, failed).await?;
        event?;
        if !verdict? {
            if let Some(outcome) = check.recorded_failure() {
                record(cx, &client, &subject.email, outcome).await?;
            }
            return Err(check.failure());
        }
        let forgive = check.forgiven(&subject);
        Ok(Passed { cx, client, subject, forgive })
    }
}

/// A check that passed: the proof a sign-in is completed with (`signin::complete`), or a
/// re-check is confirmed with ([`Passed::confirm`]).
#[must_use = "a passed check forgives nothing until it is confirmed or its sign-in completed"]
pub struct Passed<'c> {
    pub(super) cx: &'c Ctx<'c>,
    pub(super) client: Client<'c>,
    pub(super) subject: Subject,
    /// The counters the whole step, once done, clears.
    forgive: Vec<String>,
}

impl Passed<'_> {
    /// The account the check was about; none only for a check that cannot pass without one.
    pub fn user(&self) -> Result<&User, ApiError> {
        self.subject.user.as_ref().ok_or_else(|| ApiError::Internal("a check passed without an account".into()))
    }

    /// Forgets the failures counted on the check's own counters: the step is done. (Failures
    /// on the client address are never forgiven.)
    pub async fn confirm(mut self) -> Result<(), ApiError> {
        self.forgive().await
    }

    pub(super) async fn forgive(&mut self) -> Result<(), ApiError> {
        for key in std::mem::take(&mut self.forgive) {
            self.cx.host.sessions.reset_attempts(key).await?;
        }
        Ok(())
    }
}
