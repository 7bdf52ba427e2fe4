//! The contract between the auth component and the hosts that run it, in Rust.
//!
//! `wit/asm.wit` is the contract; this crate is its one Rust rendering, shared by every side:
//! - [`types`]: the records that cross the boundary, field for field as in the WIT. The
//!   component's bindings (wit-bindgen) and the native host's (wasmtime, with the `wasmtime`
//!   feature) are told to use these very types, so nothing converts between copies of them;
//! - [`UserStore`], [`SessionStore`], [`Mailer`] and [`Geo`]: what a backend implements, one async method
//!   per WIT function, generated from the one list in [`with_store_operations!`];
//! - [`UserId`] and [`TokenHash`]: the identifiers a store is addressed by, as types of their
//!   own, so a session token or a session id cannot be passed where they are expected.
//!
//! Store implementations live in `asm-stores` (the in-memory reference store and the
//! driver-independent PostgreSQL and Redis logic), the native host and the Spin adapter.

#[cfg(feature = "json")]
pub mod event_json;
pub mod http;
pub mod types;

pub use types::*;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// What every store operation answers.
pub type StoreResult<T> = Result<T, StoreError>;

/// Every store operation of `wit/asm.wit`, written once. Expands `$then! { … }` with the list,
/// so the traits below, the component's calls to its imports, the native host's answers to
/// them and the Spin adapter's exports are all generated from it and cannot drift: a function
/// added here and not to the WIT (or the reverse) does not compile.
///
/// Per interface: its WIT name as a Rust module, the trait, a short label for logs and
/// metrics, then the operations. Parameters are single identifiers: a WIT `string` that names
/// a user or a session is written [`UserId`] or [`TokenHash`] ([`wit_type!`] maps them back).
#[macro_export]
macro_rules! with_store_operations {
    ($then:ident) => {
        $then! {
            /// Accounts and login history. Each method is one atomic operation of the backend.
            user_store UserStore "users" {
                /// Inserts a user; a taken email or username is `Conflict` naming the field.
                fn create_user(user: NewUser) -> User;
                /// The user with this email (compared case-insensitively), if any.
                fn find_user_by_email(email: String) -> Option<User>;
                /// The user with this id, if any; an id the backend could never issue is none.
                fn find_user_by_id(id: UserId) -> Option<User>;
                /// Stamps a successful login and counts the device cookie it issues, in one
                /// step; the new `devices_issued` (that cookie's number).
                fn record_login(user_id: UserId, at: i64) -> u64;
                /// Replaces the password hash, raises the credential version and voids the
                /// user's reset tokens and pending second login steps, in one step. Returns the
                /// new version.
                fn update_password(user_id: UserId, password_hash: String) -> u64;
                /// Replaces the hash with one of the same password at another cost, only while
                /// the stored hash is still `current_hash`. True when replaced.
                fn rehash_password(user_id: UserId, current_hash: String, new_hash: String) -> bool;
                /// Appends to the history of the account with the attempt's email, if any, and
                /// drops that account's history beyond `retention`.
                fn record_login_attempt(attempt: AttemptRecord, retention: Retention) -> ();
                /// A page of the user's login history, newest first, with the total.
                fn list_login_attempts(user_id: UserId, offset: u32, limit: u32) -> LoginPage;
                /// Keeps `token_hash` for the account with this email, valid for `purpose` until
                /// `expires_at`, voiding its older tokens of that purpose, in one step. The
                /// account; none (after the same work) when the email has none.
                fn issue_token(email: String, purpose: TokenPurpose, token_hash: String, expires_at: i64) -> Option<User>;
                /// The account an unexpired token of `purpose` is for; with `consume`, the token
                /// is used up in the same step (one of parallel redemptions gets the account).
                fn redeem_token(purpose: TokenPurpose, token_hash: String, now: i64, consume: bool) -> Option<User>;
                /// Marks the email verified and voids the account's verification tokens.
                fn mark_email_verified(user_id: UserId) -> ();
                /// Keeps a pending TOTP secret (sealed) unless TOTP is on; false when it is on.
                fn begin_totp(user_id: UserId, sealed_secret: Bytes) -> bool;
                /// Turns TOTP on with the pending secret and these recovery-code hashes, in one
                /// step; false without a pending secret or when already on.
                fn enable_totp(user_id: UserId, recovery_code_hashes: Strings) -> bool;
                /// Turns TOTP off: secret, last accepted step and recovery codes go.
                fn disable_totp(user_id: UserId) -> ();
                /// Replaces the recovery codes while TOTP is on; false when it is off.
                fn replace_recovery_codes(user_id: UserId, recovery_code_hashes: Strings) -> bool;
                /// Records `step` as the last accepted TOTP step if it is later than the recorded
                /// one; of parallel submissions of one code, one gets true.
                fn accept_totp_step(user_id: UserId, step: u64) -> bool;
                /// Uses up the recovery code with this hash; true when it existed.
                fn use_recovery_code(user_id: UserId, code_hash: String) -> bool;
                /// Accounts whose email or username starts with `query` (case-insensitively),
                /// oldest first, at most `limit`, after an earlier page's cursor.
                fn search_users(query: String, limit: u32, after: Cursor) -> UserPage;
                /// Changes the given fields; a taken email or username is `Conflict` naming it.
                /// None when there is no such account.
                fn update_user(user_id: UserId, changes: UserChanges) -> Option<User>;
                /// Disables or enables the account and raises its credential version, in one
                /// step; the new version, none when there is no such account.
                fn set_disabled(user_id: UserId, disabled: bool) -> Option<u64>;
                /// Erases the account and everything kept about it (history, tokens, second
                /// factors, unsent mail to its email), in one step; true when it existed.
                fn delete_user(user_id: UserId) -> bool;
                /// Keeps a pending change of the account's email to `new_email` under this token
                /// hash until `expires_at`; false when there is no such account.
                fn begin_email_change(user_id: UserId, new_email: String, token_hash: String, expires_at: i64) -> bool;
                /// Uses up a pending email change and makes its email the account's, verified;
                /// `Conflict("email")` when it was taken meanwhile (the token kept). Without
                /// `apply`, changes nothing and answers what applying would answer now.
                fn confirm_email_change(token_hash: String, now: i64, apply: bool) -> Option<EmailChanged>;
                /// Answers when the store is reachable.
                fn ping() -> ();
            }
            /// Sessions and login-attempt counters. Each method is one atomic operation of the backend.
            session_store SessionStore "sessions" {
                /// Stores the session until `expires_at` and indexes it under its user, in one
                /// step, unless the store knows a credential version of the user above
                /// `credential_version` (`Stale`). With `max_sessions` above 0, the user's least
                /// recently active sessions beyond that many end in the same step.
                /// `user` is the profile as of this login; a store that keeps profiles keeps the
                /// newest `last_login` it was given.
                fn create_session(session: Session, user: UserProfile, max_sessions: u32, credential_version: u64) -> SessionCreated;
                /// The live session with this token hash, and its user's profile when the store
                /// has it; expired sessions are never returned.
                fn get_session(token_hash: TokenHash) -> Option<SessionLookup>;
                /// Replaces the profile kept for the user's sessions, keeping the newest last login
                /// it has seen (no-op for a store that reads profiles from the user store, or a
                /// user without live sessions).
                fn put_user_profile(user: UserProfile) -> ();
                /// Sets `last_activity` to `at` and keeps the session only until `keep_until`
                /// (never past its `expires_at`). False when the session no longer exists.
                fn touch_session(token_hash: TokenHash, at: i64, keep_until: i64) -> bool;
                /// Removes the session and its index entry, in one step. True when it existed.
                fn delete_session(user_id: UserId, token_hash: TokenHash) -> bool;
                /// Removes every session of the user but `keep_token_hash`, in one step.
                /// Returns how many ended.
                fn delete_other_sessions(user_id: UserId, keep_token_hash: TokenHash) -> u32;
                /// Removes every session of the user, in one step. Returns how many ended.
                fn delete_user_sessions(user_id: UserId) -> u32;
                /// Erases every session, the index and the profile of the user, in one step (the
                /// credential version stays until it expires). Returns how many sessions ended.
                fn erase_user(user_id: UserId) -> u32;
                /// The user's live sessions, in any order.
                fn list_sessions(user_id: UserId) -> Vec<Session>;
                /// From now on, refuses sessions for credential versions of the user below
                /// `version` (a lower version than one already set changes nothing).
                fn set_credential_version(user_id: UserId, version: u64) -> ();
                /// Asks to check one password under the counter `key`: admitted (and counted as
                /// in flight) unless `limit` failures were reported in the window, or failures
                /// and attempts in flight together could reach it.
                fn begin_attempt(key: String, limit: u32, window_ms: u64) -> AttemptGate;
                /// Reports an admitted attempt's end; the first failure opens a window.
                fn end_attempt(key: String, failed: bool, window_ms: u64) -> ();
                /// Forgets the failures counted under `key` (attempts in flight stay counted).
                fn reset_attempts(key: String) -> ();
                /// Forgets the counter `key` altogether.
                fn forget_attempts(key: String) -> ();
                /// Answers when the store is reachable.
                fn ping() -> ();
            }
            /// Mail from the component, queued durably; delivered later, never in the request.
            mailer Mailer "mail" {
                /// Returns once the message is in the outbox.
                fn send(message: Mail) -> ();
            }
            /// The account's events: the audit trail, and what webhooks are sent.
            events Events "events" {
                /// Writes the event, and its webhook delivery where webhooks are on, in one
                /// step; its id. Called before the change it records.
                fn append(event: NewEvent) -> i64;
                /// Takes back an event whose change did not happen, with its undelivered
                /// delivery.
                fn withdraw(id: i64) -> ();
                /// Events matching `filter`, newest first, at most `limit`, after a cursor.
                fn list_events(filter: EventFilter, limit: u32, after: Cursor) -> EventPage;
            }
        }
    };
}

/// The Rust type a parameter has at the WIT boundary: identifiers travel as strings.
#[macro_export]
macro_rules! wit_type {
    (UserId) => {
        ::std::string::String
    };
    (TokenHash) => {
        ::std::string::String
    };
    (Bytes) => {
        ::std::vec::Vec<u8>
    };
    (Strings) => {
        ::std::vec::Vec<::std::string::String>
    };
    (Cursor) => {
        ::std::option::Option<::std::string::String>
    };
    ($other:ident) => {
        $other
    };
}

macro_rules! define_traits {
    ($($(#[$trait_doc:meta])* $module:ident $Trait:ident $label:literal {
        $($(#[$doc:meta])* fn $op:ident($($arg:ident: $ty:ident),*) -> $ret:ty;)*
    })*) => {$(
        $(#[$trait_doc])*
        #[async_trait::async_trait]
        pub trait $Trait: Send + Sync {
            $( $(#[$doc])* async fn $op(&self, $($arg: $ty),*) -> StoreResult<$ret>; )*
        }
    )*};
}

with_store_operations!(define_traits);

/// Offline IP geolocation. A lookup is a read of a database the host loaded once.
pub trait Geo: Send + Sync {
    /// Where a public address (v4 or v6, textual) is; none when unknown.
    fn lookup(&self, ip: &str) -> Option<Location>;
}

/// Keys the host holds: the component asks for MACs and sealed boxes, and never sees a key.
pub trait Keyring: Send + Sync {
    /// A MAC of `message` under the current key, derived for `purpose`.
    fn sign(&self, purpose: &str, message: &[u8]) -> Vec<u8>;
    /// Whether `tag` is a MAC of `message` for `purpose` under the current key or a previous one.
    fn verify(&self, purpose: &str, message: &[u8], tag: &[u8]) -> bool;
    /// `plaintext` encrypted and authenticated under the current key, derived for `purpose`.
    fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8>;
    /// What `seal` sealed for `purpose`, under the current key or a previous one.
    fn open(&self, purpose: &str, sealed: &[u8]) -> Option<Vec<u8>>;
}

/// Turns at hashing passwords: the host bounds how many hashes run at once.
pub trait Hashing: Send + Sync {
    /// Waits for a turn; false when none came in the time the host allows.
    fn begin(&self) -> bool;
    /// Gives the turn back.
    fn end(&self);
}

/// Every caller gets a turn at once: for hosts that run one request at a time, or tests.
pub struct Unbounded;

impl Hashing for Unbounded {
    fn begin(&self) -> bool {
        true
    }
    fn end(&self) {}
}

/// Bytes, as a store parameter (a WIT `list<u8>`).
pub type Bytes = Vec<u8>;
/// Strings, as a store parameter (a WIT `list<string>`).
pub type Strings = Vec<String>;
/// Where a page starts, as a store parameter (a WIT `option<string>`): none for the first.
pub type Cursor = Option<String>;

/// No GeoIP database: every address is unknown.
pub struct NoGeo;

impl Geo for NoGeo {
    fn lookup(&self, _ip: &str) -> Option<Location> {
        None
    }
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        /// Stores receive identifiers as text from the component, and read them from rows.
        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Lend for $name {
            type Out<'a> = &'a str;
            fn lend(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// A user's id, as the user store issued it.
    UserId
);
identifier!(
    /// What stores keep and look a session up by: `<route>.<hex SHA-256 of the token>`, where
    /// `route` is [`route_tag`] of the session's user. The token itself never leaves the
    /// component.
    TokenHash
);

impl TokenHash {
    /// The routing tag, when the hash has one (every hash this release makes does).
    pub fn route(&self) -> Option<&str> {
        self.0.split_once('.').map(|(route, _)| route).filter(|r| is_route_tag(r))
    }
}

/// Bytes of a routing tag: it is written as twice as many hex digits.
pub const ROUTE_BYTES: usize = 4;

/// The routing tag of a user's sessions: the first [`ROUTE_BYTES`] of the SHA-256 of the user
/// id, in hex. Every session of a user carries it (in its token, and so in its [`TokenHash`]),
/// and a sharded store places all of a user's keys by it: a session is found from its token
/// alone, and a user's sessions stay together.
pub fn route_tag(user_id: &str) -> String {
    route_bytes(user_id).iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes [`route_tag`] writes in hex.
pub fn route_bytes(user_id: &str) -> [u8; ROUTE_BYTES] {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(user_id.as_bytes());
    let mut out = [0; ROUTE_BYTES];
    out.copy_from_slice(&digest[..ROUTE_BYTES]);
    out
}

/// True for text that could be a routing tag (lower-case hex of [`ROUTE_BYTES`] bytes).
pub fn is_route_tag(text: &str) -> bool {
    text.len() == ROUTE_BYTES * 2 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// How an owned value is lent to a wit-bindgen import, which borrows strings and records and
/// takes numbers (and small plain records) by value. Used by the code generated from
/// [`with_store_operations!`] in components that call the store imports.
pub trait Lend {
    type Out<'a>
    where
        Self: 'a;
    fn lend(&self) -> Self::Out<'_>;
}

macro_rules! lend_by_ref {
    ($($t:ty => $out:ty),* $(,)?) => {$(
        impl Lend for $t {
            type Out<'a> = &'a $out;
            fn lend(&self) -> &$out {
                self
            }
        }
    )*};
}

macro_rules! lend_by_value {
    ($($t:ty),*) => {$(
        impl Lend for $t {
            type Out<'a> = $t;
            fn lend(&self) -> $t {
                *self
            }
        }
    )*};
}

impl Lend for Cursor {
    type Out<'a> = Option<&'a str>;
    fn lend(&self) -> Option<&str> {
        self.as_deref()
    }
}

lend_by_ref!(
    String => str,
    NewUser => NewUser,
    UserChanges => UserChanges,
    NewEvent => NewEvent,
    EventFilter => EventFilter,
    Session => Session,
    UserProfile => UserProfile,
    AttemptRecord => AttemptRecord,
    Mail => Mail,
    Bytes => [u8],
    Strings => [String],
);
lend_by_value!(u32, u64, i64, bool, Retention, TokenPurpose);

/// Runs a future that cannot wait: a store call that answers at once (the component's
/// imports, the in-memory store, the Spin adapter's synchronous clients). Panics if it would
/// wait, which only a store that really waits could make it do.
pub fn complete<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("asm_contract::complete: the future waited; only synchronous stores can be completed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_tags_are_stable_hex_of_the_user_id() {
        let tag = route_tag("7c9e6679-7425-40de-944b-e07fc1f90ae7");
        assert_eq!(tag.len(), 2 * ROUTE_BYTES);
        assert!(is_route_tag(&tag), "{tag}");
        assert_eq!(tag, route_tag("7c9e6679-7425-40de-944b-e07fc1f90ae7"), "the same user, the same tag");
        assert_ne!(tag, route_tag("7c9e6679-7425-40de-944b-e07fc1f90ae8"));
        // SHA-256("abc") starts ba7816bf.
        assert_eq!(route_tag("abc"), "ba7816bf");
    }

    #[test]
    fn a_token_hash_names_its_route() {
        assert_eq!(TokenHash::from("ba7816bf.9f86d081").route(), Some("ba7816bf"));
        assert_eq!(TokenHash::from("9f86d081884c7d65").route(), None, "no dot, no route");
        assert_eq!(TokenHash::from("BA7816BF.9f86").route(), None, "upper case is not a tag");
        assert_eq!(TokenHash::from("ba78.9f86").route(), None, "too short");
        assert_eq!(TokenHash::from("{x}.9f86d081").route(), None);
    }
}
