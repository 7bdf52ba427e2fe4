//! The records of `wit/asm.wit` (interface `types`), field for field and in the same order:
//! wit-bindgen and wasmtime lift and lower them by their fields. Times are Unix milliseconds.

/// A record of the WIT `types` interface: the Rust struct, plus wasmtime's component-model
/// derives under the `wasmtime` feature, with each field's WIT name beside it.
macro_rules! wit_record {
    ($(#[$meta:meta])* $name:ident { $( $(#[$field_meta:meta])* $field:ident $wit:literal : $ty:ty, )* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[cfg_attr(
            feature = "wasmtime",
            derive(wasmtime::component::ComponentType, wasmtime::component::Lift, wasmtime::component::Lower),
            component(record)
        )]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[cfg_attr(feature = "wasmtime", component(name = $wit))]
                pub $field: $ty,
            )*
        }
    };
}

/// A WIT enum: the Rust enum with wasmtime's derives under the `wasmtime` feature, each case's
/// WIT name beside it and its name in the API and the SQL stores after it, and the helpers
/// wit-bindgen's lifting needs.
macro_rules! wit_enum {
    ($(#[$meta:meta])* $name:ident { $( $(#[$case_meta:meta])* $case:ident $wit:literal => $text:literal, )* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(
            feature = "wasmtime",
            derive(wasmtime::component::ComponentType, wasmtime::component::Lift, wasmtime::component::Lower),
            component(enum)
        )]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$case_meta])* #[cfg_attr(feature = "wasmtime", component(name = $wit))] $case, )*
        }

        impl $name {
            /// Every case, in the WIT's order.
            pub const ALL: &'static [$name] = &[$($name::$case),*];

            /// Its name in the API and in the SQL stores.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$case => $text,)* }
            }

            pub fn parse(name: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|c| c.as_str() == name)
            }

            /// wit-bindgen's lifting calls this on enums it did not generate itself.
            ///
            /// # Safety
            /// `value` is a discriminant the component model checked: below the number of cases.
            #[doc(hidden)]
            pub unsafe fn _lift(value: u8) -> $name {
                Self::ALL[value as usize]
            }
        }
    };
}

/// A WIT variant: the Rust enum with wasmtime's derives under the `wasmtime` feature, each
/// case's WIT name beside it.
macro_rules! wit_variant {
    ($(#[$meta:meta])* $name:ident { $( $(#[$case_meta:meta])* $case:ident $wit:literal $(($payload:ty))?, )* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[cfg_attr(
            feature = "wasmtime",
            derive(wasmtime::component::ComponentType, wasmtime::component::Lift, wasmtime::component::Lower),
            component(variant)
        )]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub enum $name {
            $( $(#[$case_meta])* #[cfg_attr(feature = "wasmtime", component(name = $wit))] $case $(($payload))?, )*
        }
    };
}

wit_record!(
    /// A stored account. `email` is trimmed and lower-cased before it gets here.
    User {
        id "id": String,
        email "email": String,
        username "username": String,
        full_name "full-name": String,
        password_hash "password-hash": String,
        created_at "created-at": i64,
        last_login "last-login": Option<i64>,
        /// Raised by every password change; see `SessionStore::create_session`.
        credential_version "credential-version": u64,
        /// Whether the owner of `email` has followed a verification link.
        email_verified "email-verified": bool,
        /// The TOTP secret, sealed by the host's keyring: pending until `totp_enabled`.
        totp_secret "totp-secret": Option<Vec<u8>>,
        /// Whether a login needs a second factor.
        totp_enabled "totp-enabled": bool,
        /// How many device cookies the account has been issued; only the newest are trusted.
        devices_issued "devices-issued": u64,
        /// Whether an operator disabled the account: no way in, no session.
        disabled "disabled": bool,
    }
);

wit_record!(
    /// One page of accounts, oldest first, and where the next page starts.
    UserPage {
        users "users": Vec<User>,
        next "next": Option<String>,
    }
);

wit_record!(
    /// What an update of an account changes; none leaves a field as it is.
    #[derive(Default)]
    UserChanges {
        email "email": Option<String>,
        username "username": Option<String>,
        full_name "full-name": Option<String>,
        email_verified "email-verified": Option<bool>,
    }
);

wit_record!(
    /// What `UserStore::confirm_email_change` did: the account with its new email, and the old.
    EmailChanged {
        user "user": User,
        previous_email "previous-email": String,
    }
);

wit_enum!(
    /// What happened, in an event; `as_str` is its name in the API, the webhooks and the stores.
    EventType {
        UserCreated "user-created" => "user.created",
        UserEmailVerified "user-email-verified" => "user.email_verified",
        UserEmailChanged "user-email-changed" => "user.email_changed",
        UserPasswordChanged "user-password-changed" => "user.password_changed",
        UserPasswordReset "user-password-reset" => "user.password_reset",
        UserDisabled "user-disabled" => "user.disabled",
        UserEnabled "user-enabled" => "user.enabled",
        UserDeleted "user-deleted" => "user.deleted",
        SessionCreated "session-created" => "session.created",
        SessionRevoked "session-revoked" => "session.revoked",
        LoginFailed "login-failed" => "login.failed",
        LoginLocked "login-locked" => "login.locked",
        MfaEnabled "mfa-enabled" => "mfa.enabled",
        MfaDisabled "mfa-disabled" => "mfa.disabled",
        PasskeyAdded "passkey-added" => "passkey.added",
        PasskeyRemoved "passkey-removed" => "passkey.removed",
        IdentityLinked "identity-linked" => "identity.linked",
        IdentityUnlinked "identity-unlinked" => "identity.unlinked",
    }
);

wit_record!(
    /// Something that happened to an account or its sessions, as the request that did it
    /// records it. `data` is a JSON object.
    NewEvent {
        event_type "event-type": EventType,
        user_id "user-id": Option<String>,
        at "at": i64,
        ip_address "ip-address": String,
        data "data": String,
    }
);

wit_record!(
    /// A recorded event, with the id the store gave it.
    Event {
        id "id": i64,
        event_type "event-type": EventType,
        user_id "user-id": Option<String>,
        at "at": i64,
        ip_address "ip-address": String,
        data "data": String,
    }
);

wit_record!(
    /// Which events to read.
    #[derive(Default)]
    EventFilter {
        user_id "user-id": Option<String>,
        event_type "event-type": Option<EventType>,
    }
);

wit_record!(
    /// One page of events, newest first, and where the next (older) page starts.
    EventPage {
        events "events": Vec<Event>,
        next "next": Option<String>,
    }
);

wit_record!(
    /// An account to create.
    NewUser {
        email "email": String,
        username "username": String,
        full_name "full-name": String,
        password_hash "password-hash": String,
    }
);

impl User {
    /// The id as the stores are addressed by it.
    pub fn user_id(&self) -> crate::UserId {
        crate::UserId::from(self.id.as_str())
    }
}

impl NewUser {
    /// The account this becomes once a store has given it an id.
    pub fn into_user(self, id: String, created_at: i64) -> User {
        User {
            id,
            email: self.email,
            username: self.username,
            full_name: self.full_name,
            password_hash: self.password_hash,
            created_at,
            last_login: None,
            credential_version: 0,
            email_verified: false,
            totp_secret: None,
            totp_enabled: false,
            devices_issued: 0,
            disabled: false,
        }
    }
}

wit_record!(
    /// The parsed User-Agent, kept with the session so listing never parses again.
    #[derive(Default)]
    Device {
        browser "browser": String,
        browser_version "browser-version": String,
        os "os": String,
        os_version "os-version": String,
        category "category": String,
        summary "summary": String,
    }
);

wit_record!(
    /// A live session. `token_hash` is what it is stored and found by ([`crate::TokenHash`]);
    /// `id` is the public id used to list and revoke it.
    Session {
        id "id": String,
        token_hash "token-hash": String,
        user_id "user-id": String,
        ip_address "ip-address": String,
        user_agent "user-agent": String,
        device "device": Device,
        location "location": String,
        created_at "created-at": i64,
        last_activity "last-activity": i64,
        expires_at "expires-at": i64,
        /// Whether the login that made it passed a second factor.
        mfa "mfa": bool,
    }
);

impl Session {
    /// What the session is stored and found by.
    pub fn token(&self) -> crate::TokenHash {
        crate::TokenHash::from(self.token_hash.as_str())
    }

    /// Its user's id, as the stores are addressed by it.
    pub fn owner(&self) -> crate::UserId {
        crate::UserId::from(self.user_id.as_str())
    }
}

wit_record!(
    /// What a session check shows of its account; the session store keeps it beside the user's
    /// sessions so a check is one round trip.
    UserProfile {
        id "id": String,
        email "email": String,
        username "username": String,
        full_name "full-name": String,
        created_at "created-at": i64,
        last_login "last-login": Option<i64>,
        email_verified "email-verified": bool,
        mfa_enabled "mfa-enabled": bool,
    }
);

impl From<&User> for UserProfile {
    fn from(u: &User) -> UserProfile {
        UserProfile {
            id: u.id.clone(),
            email: u.email.clone(),
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            created_at: u.created_at,
            last_login: u.last_login,
            email_verified: u.email_verified,
            mfa_enabled: u.totp_enabled,
        }
    }
}

wit_record!(
    /// A live session, with its user's profile when the store has one.
    SessionLookup {
        session "session": Session,
        user "user": Option<UserProfile>,
    }
);

wit_enum!(
    /// How a login attempt ended.
    LoginOutcome {
        Success "success" => "success",
        InvalidCredentials "invalid-credentials" => "invalid_credentials",
        Locked "locked" => "locked",
        /// A login completed with a recovery code instead of a TOTP code.
        RecoveryCode "recovery-code" => "recovery_code",
        /// The right password, then a wrong second factor.
        MfaFailed "mfa-failed" => "mfa_failed",
    }
);

wit_record!(
    /// One login attempt to record, by the email it was made for: stores keep it when that
    /// email has an account, and do the same work when it has none.
    AttemptRecord {
        email "email": String,
        outcome "outcome": LoginOutcome,
        ip_address "ip-address": String,
        user_agent "user-agent": String,
        device_info "device-info": String,
        location "location": String,
        at "at": i64,
    }
);

wit_record!(
    /// How much login history a user keeps: nothing older, and no more rows.
    #[derive(Copy)]
    Retention {
        max_age_ms "max-age-ms": u64,
        max_count "max-count": u32,
    }
);

wit_record!(
    /// One recorded login attempt, as listed.
    LoginAttempt {
        id "id": String,
        user_id "user-id": String,
        outcome "outcome": LoginOutcome,
        ip_address "ip-address": String,
        user_agent "user-agent": String,
        device_info "device-info": String,
        location "location": String,
        at "at": i64,
    }
);

wit_record!(
    /// One page of a user's login history, newest first, and how many there are in all.
    LoginPage {
        attempts "attempts": Vec<LoginAttempt>,
        total "total": u64,
    }
);

wit_variant!(
    /// What `SessionStore::begin_attempt` decided.
    #[derive(Copy)]
    AttemptGate {
        /// Counted as in flight: check the password, then report with `end_attempt`.
        Admitted "admitted",
        /// Attempts in flight could reach the limit if they fail: ask again shortly.
        Busy "busy",
        /// The limit of failures in the window is reached.
        Locked "locked"(Lock),
    }
);

wit_record!(
    #[derive(Copy)]
    Lock {
        /// Milliseconds until the window of failures ends.
        retry_after_ms "retry-after-ms": u64,
        /// True for the first attempt refused by this lock, so it is recorded once.
        first "first": bool,
    }
);

wit_variant!(
    /// What `SessionStore::create_session` did.
    SessionCreated {
        /// Stored; the public ids of the sessions the cap ended to make room.
        Created "created"(Vec<String>),
        /// Refused: the user's credentials changed since the version the login verified.
        Stale "stale",
    }
);

wit_record!(
    /// Where an address is, as far as the host's GeoIP database knows.
    Location {
        city "city": Option<String>,
        country "country": Option<String>,
        country_code "country-code": Option<String>,
    }
);

wit_enum!(
    /// What a mailed token is for; a token of one purpose is never accepted for another. Its
    /// name is the SQL stores' `purpose` column.
    TokenPurpose {
        PasswordReset "password-reset" => "password_reset",
        EmailVerification "email-verification" => "email_verification",
        /// The second step of a login with a second factor (`mfa_token`).
        MfaLogin "mfa-login" => "mfa_login",
        /// A change of the account's email, confirmed from the new address.
        EmailChange "email-change" => "email_change",
    }
);

wit_record!(
    /// A message for the host to deliver: queued durably by `Mailer::send`, delivered later.
    Mail {
        to "to": String,
        subject "subject": String,
        /// The plain-text body.
        text "text": String,
        /// The same message as HTML.
        html "html": String,
    }
);

wit_variant!(
    /// Why a store operation failed.
    StoreError {
        /// A unique constraint was violated; the payload names the field (`email`, `username`).
        Conflict "conflict"(String),
        /// The backing service did not answer; the component answers 503.
        Unavailable "unavailable"(String),
        /// Anything else; the component answers 500 and the host logs the detail.
        Internal "internal"(String),
    }
);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(field) => write!(f, "conflict on {field}"),
            StoreError::Unavailable(detail) => write!(f, "unavailable: {detail}"),
            StoreError::Internal(detail) => write!(f, "internal: {detail}"),
        }
    }
}

impl std::error::Error for StoreError {}
