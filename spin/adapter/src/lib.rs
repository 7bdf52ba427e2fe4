//! The asm stores on Spin: a component that exports what the auth component imports
//! (`asm:auth/{types,user-store,session-store,geo,keyring,mailer,events,hashing}@0.1.0`) and implements it with the stores of
//! `asm-stores`, driven by Spin's own PostgreSQL (`spin:postgres/postgres@4.0.0`) and Redis
//! (`fermyon:spin/redis@2.0.0`) clients: the same statements and scripts as the native host.
//! Spin composes it into the auth component at load time (`spin.toml`, dependencies).
//!
//! - [`pg`] and [`redis`]: the drivers, Spin's errors mapped to the contract's (natively
//!   unit-tested with the shapes Spin reports);
//! - [`vars`]: the Spin variables it reads;
//! - `component`: the exports, one forwarding function per operation of
//!   `asm_contract::with_store_operations!`.

pub mod bindings {
    //! The adapter's world (`wit/adapter.wit` over the repository's `wit/asm.wit`), with the
    //! records mapped to `asm_contract`'s types. (An exported interface cannot be mapped as a
    //! whole, so each record is.)
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "asm:spin-adapter/adapter",
        with: {
            "asm:auth/types@0.1.0/user": asm_contract::User,
            "asm:auth/types@0.1.0/new-user": asm_contract::NewUser,
            "asm:auth/types@0.1.0/device": asm_contract::Device,
            "asm:auth/types@0.1.0/session": asm_contract::Session,
            "asm:auth/types@0.1.0/user-profile": asm_contract::UserProfile,
            "asm:auth/types@0.1.0/session-lookup": asm_contract::SessionLookup,
            "asm:auth/types@0.1.0/login-outcome": asm_contract::LoginOutcome,
            "asm:auth/types@0.1.0/attempt-record": asm_contract::AttemptRecord,
            "asm:auth/types@0.1.0/retention": asm_contract::Retention,
            "asm:auth/types@0.1.0/login-attempt": asm_contract::LoginAttempt,
            "asm:auth/types@0.1.0/login-page": asm_contract::LoginPage,
            "asm:auth/types@0.1.0/attempt-gate": asm_contract::AttemptGate,
            "asm:auth/types@0.1.0/lock": asm_contract::Lock,
            "asm:auth/types@0.1.0/session-created": asm_contract::SessionCreated,
            "asm:auth/types@0.1.0/location": asm_contract::Location,
            "asm:auth/types@0.1.0/token-purpose": asm_contract::TokenPurpose,
            "asm:auth/types@0.1.0/mail": asm_contract::Mail,
            "asm:auth/types@0.1.0/store-error": asm_contract::StoreError,
            "asm:auth/types@0.1.0/user-page": asm_contract::UserPage,
            "asm:auth/types@0.1.0/user-changes": asm_contract::UserChanges,
            "asm:auth/types@0.1.0/email-changed": asm_contract::EmailChanged,
            "asm:auth/types@0.1.0/event-type": asm_contract::EventType,
            "asm:auth/types@0.1.0/new-event": asm_contract::NewEvent,
            "asm:auth/types@0.1.0/event": asm_contract::Event,
            "asm:auth/types@0.1.0/event-filter": asm_contract::EventFilter,
            "asm:auth/types@0.1.0/event-page": asm_contract::EventPage,
        },
    });
}

pub mod pg;
pub mod redis;
pub mod vars;

#[cfg(target_arch = "wasm32")]
mod component;

use asm_contract::{StoreError, StoreResult};

/// The variable's value, or `internal` naming it when it is unset or blank.
pub fn required(name: &str, value: Option<String>) -> StoreResult<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(StoreError::Internal(format!("the Spin variable `{name}` is not set"))),
    }
}

/// A variable's value when it is set and not blank.
pub fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The Redis key prefix: the variable's value, `asm:` (as on the native host) when undefined.
pub fn key_prefix(value: Option<String>) -> String {
    value.unwrap_or_else(|| vars::DEFAULT_KEY_PREFIX.to_string())
}

/// The GeoIP database path: None when unset or blank (then every lookup answers None).
pub fn geoip_path(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_variables() {
        assert_eq!(required("db_url", Some("postgres://h/d".into())).unwrap(), "postgres://h/d");
        let Err(StoreError::Internal(m)) = required("db_url", Some("  ".into())) else { panic!() };
        assert!(m.contains("db_url"), "{m}");
        assert!(matches!(required("redis_url", None), Err(StoreError::Internal(_))));
        assert_eq!(optional(Some(" ".into())), None);
        assert_eq!(optional(Some("redis://h".into())).as_deref(), Some("redis://h"));
        assert_eq!(key_prefix(None), "asm:");
        assert_eq!(key_prefix(Some("t1:".into())), "t1:");
        assert_eq!(geoip_path(Some(" ".into())), None);
        assert_eq!(geoip_path(Some("/geo/City.mmdb".into())).as_deref(), Some("/geo/City.mmdb"));
    }
}
