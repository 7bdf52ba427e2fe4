//! The asm stores on Spin: a component that exports what the auth component imports
//! (`asm:auth/{types,user-store,session-store,geo}@0.1.0`) and implements it with Spin's own
//! PostgreSQL (`spin:postgres/postgres@4.0.0`), Redis (`fermyon:spin/redis@2.0.0`) and
//! variables, running the SQL and Lua of `asm-store-queries`, the same text the native host
//! runs. Spin composes it into the auth component at load time (`spin.toml`, dependencies).
//!
//! Everything that can be decided without Spin (statements and their parameters, script
//! arguments, reply decoding, error mapping, GeoIP lookups) lives in the plain modules below
//! and is unit-tested natively; `component` is the thin layer that calls Spin.

pub mod bindings {
    //! The adapter's world (`wit/adapter.wit` over the repository's `wit/asm.wit`). Records
    //! derive serde like the native host's, so a session is stored as the same JSON.
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "asm:spin-adapter/adapter",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub mod geo;
pub mod pg;
pub mod redis;
pub mod vars;

#[cfg(target_arch = "wasm32")]
mod component;

// The native host's test writer of small City databases, reused rather than copied.
#[cfg(test)]
#[allow(dead_code, clippy::all)]
#[path = "../../../host/tests/api/mmdb.rs"]
mod mmdb_fixture;

pub use bindings::exports::asm::auth::types::StoreError;

pub type StoreResult<T> = Result<T, StoreError>;

/// The variable's value, or `internal` naming it when it is unset or blank.
pub fn required(name: &str, value: Option<String>) -> StoreResult<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(StoreError::Internal(format!("the Spin variable `{name}` is not set"))),
    }
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
        assert_eq!(key_prefix(None), "asm:");
        assert_eq!(key_prefix(Some("t1:".into())), "t1:");
        assert_eq!(geoip_path(Some(" ".into())), None);
        assert_eq!(geoip_path(Some("/geo/City.mmdb".into())).as_deref(), Some("/geo/City.mmdb"));
    }
}
