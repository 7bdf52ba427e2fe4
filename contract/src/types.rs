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

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "wasmtime",
    derive(wasmtime::component::ComponentType, wasmtime::component::Lift, wasmtime::component::Lower),
    component(enum)
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum LoginOutcome {
    #[cfg_attr(feature = "wasmtime", component(name = "success"))]
    Success,
    #[cfg_attr(feature = "wasmtime", component(name = "invalid-credentials"))]
    InvalidCredentials,
    #[cfg_attr(feature = "wasmtime", component(name = "locked"))]
    Locked,
    #[cfg_attr(feature = "wasmtime", component(name = "recovery-code"))]
    RecoveryCode,
    #[cfg_attr(feature = "wasmtime", component(name = "mfa-failed"))]
    MfaFailed,
}

impl LoginOutcome {
    pub const ALL: [LoginOutcome; 5] = [
        LoginOutcome::Success,
        LoginOutcome::InvalidCredentials,
        LoginOutcome::Locked,
        LoginOutcome::RecoveryCode,
        LoginOutcome::MfaFailed,
    ];

    /// The name in the login history (the API, and the `outcome` column of the SQL stores).
    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::InvalidCredentials => "invalid_credentials",
            LoginOutcome::Locked => "locked",
            LoginOutcome::RecoveryCode => "recovery_code",
            LoginOutcome::MfaFailed => "mfa_failed",
        }
    }

    pub fn parse(name: &str) -> Option<LoginOutcome> {
        LoginOutcome::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// wit-bindgen's lifting calls this on enums it did not generate itself.
    ///
    /// # Safety
    /// `value` is a discriminant the component model checked: below the number of cases.
    #[doc(hidden)]
    pub unsafe fn _lift(value: u8) -> LoginOutcome {
        LoginOutcome::ALL[value as usize]
    }
}

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

/// What `SessionStore::begin_attempt` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "wasmtime",
    derive(wasmtime::component::ComponentType, wasmtime::component::Lift, wasmtime::component::Lower),
    component(variant)
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AttemptGate {
    /// Counted as in flight: check the password, then report with `end_attempt`.
    #[cfg_attr(feature = "wasmtime", component(name = "admitted"))]
    Admitted,
    /// Attempts in flight could reach the limit if they fail: ask again shortly.
    #[cfg_attr(feature = "wasmtime", component(name = "busy"))]
    Busy,
    /// The limit of failures in the window is reached.
    #[cfg_attr(feature = "wasmtime", component(name = "locked"))]
    Locked(Lock),
}

wit_record!(
    #[derive(Copy)]
    Lock {
        /// Milliseconds until the window of failures ends.
        retry_after_ms "retry-after-ms": u64,
        /// True for the first attempt refused by this lock, so it is recorded once.
        first "first": bool,
    }
);

/// What `SessionStore::create_session` did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "wasmtime",
    derive(wasmtime::component::ComponentType, wasmtime::component::Lift, wasmtime::component::Lower),
    component(variant)
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SessionCreated {
    /// Stored; the public ids of the sessions the cap ended to make room.
    #[cfg_attr(feature = "wasmtime", component(name = "created"))]
    Created(Vec<String>),
    /// Refused: the user's credentials changed since the version the login verified.
    #[cfg_attr(feature = "wasmtime", component(name = "stale"))]
    Stale,
}

wit_record!(
    /// Where an address is, as far as the host's GeoIP database knows.
    Location {
        city "city": Option<String>,
        country "country": Option<String>,
        country_code "country-code": Option<String>,
    }
);

/// What a mailed token is for; a token of one purpose is never accepted for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "wasmtime",
    derive(wasmtime::component::ComponentType, wasmtime::component::Lift, wasmtime::component::Lower),
    component(enum)
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum TokenPurpose {
    #[cfg_attr(feature = "wasmtime", component(name = "password-reset"))]
    PasswordReset,
    #[cfg_attr(feature = "wasmtime", component(name = "email-verification"))]
    EmailVerification,
    #[cfg_attr(feature = "wasmtime", component(name = "mfa-login"))]
    MfaLogin,
}

impl TokenPurpose {
    pub const ALL: [TokenPurpose; 3] =
        [TokenPurpose::PasswordReset, TokenPurpose::EmailVerification, TokenPurpose::MfaLogin];

    /// The name in the SQL stores' `purpose` column.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailVerification => "email_verification",
            TokenPurpose::MfaLogin => "mfa_login",
        }
    }

    /// wit-bindgen's lifting calls this on enums it did not generate itself.
    ///
    /// # Safety
    /// `value` is a discriminant the component model checked: below the number of cases.
    #[doc(hidden)]
    pub unsafe fn _lift(value: u8) -> TokenPurpose {
        TokenPurpose::ALL[value as usize]
    }
}

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

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "wasmtime",
    derive(wasmtime::component::ComponentType, wasmtime::component::Lift, wasmtime::component::Lower),
    component(variant)
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum StoreError {
    /// A unique constraint was violated; the payload names the field (`email`, `username`).
    #[cfg_attr(feature = "wasmtime", component(name = "conflict"))]
    Conflict(String),
    /// The backing service did not answer; the component answers 503.
    #[cfg_attr(feature = "wasmtime", component(name = "unavailable"))]
    Unavailable(String),
    /// Anything else; the component answers 500 and the host logs the detail.
    #[cfg_attr(feature = "wasmtime", component(name = "internal"))]
    Internal(String),
}

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
