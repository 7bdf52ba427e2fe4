//! How Spin's PostgreSQL client reports failures, mapped to the contract's errors as the native
//! host maps sqlx's (`asm_stores::postgres::db_error` for the server's own errors).

use asm_contract::StoreError;
use asm_stores::postgres as q;

/// `open` failed: bad address, host not in `allowed_outbound_hosts`, refused, authentication,
/// too many connections. Natively these are pool/IO errors: `unavailable`.
pub fn connection_failed(detail: &str) -> StoreError {
    StoreError::Unavailable(format!("postgres: {detail}"))
}

/// The server answered with an error (`DbError`): its SQLSTATE and, for a unique violation,
/// the constraint Spin reports in `extras`.
pub fn db_error(code: &str, extras: &[(String, String)], message: &str) -> StoreError {
    let constraint = extras.iter().find(|(k, _)| k == "constraint").map(|(_, v)| v.as_str());
    q::db_error(code, constraint, message)
}

/// A query failed without a structured server error. Spin passes tokio-postgres's `{:?}`
/// (`Error { kind: Closed, cause: None }`), in which a server error still shows its SQLSTATE
/// and constraint (a duplicate email must stay a conflict); I/O, a closed connection, TLS,
/// connecting, timing out and protocol confusion are `unavailable` (sqlx's
/// Io/Tls/Protocol/PoolClosed natively); anything else is `internal`.
pub fn query_failed(text: &str) -> StoreError {
    const GONE: [&str; 6] =
        ["kind: Io", "kind: Closed", "kind: Tls", "kind: Connect", "kind: Timeout", "kind: UnexpectedMessage"];
    if let Some(e) = q::text_error(text) {
        e
    } else if GONE.iter().any(|k| text.contains(k)) {
        StoreError::Unavailable(format!("postgres: {text}"))
    } else {
        StoreError::Internal(format!("postgres: {text}"))
    }
}

/// Any other failure: `internal`, unless its text shows a server error (Spin 4.1 passes a
/// query's whole error as text through `other`).
pub fn other(text: &str) -> StoreError {
    q::text_error(text).unwrap_or_else(|| StoreError::Internal(format!("postgres: {text}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_like_the_native_store() {
        let extras =
            |c: &str| vec![("table".to_string(), "users".to_string()), ("constraint".to_string(), c.to_string())];
        assert_eq!(db_error("23505", &extras("users_email_key"), "dup"), StoreError::Conflict("email".into()));
        assert_eq!(db_error("23505", &extras("users_username_key"), "dup"), StoreError::Conflict("username".into()));
        assert_eq!(db_error("23505", &[], "dup"), StoreError::Conflict("unknown".into()));
        assert!(matches!(db_error("57P01", &[], "terminating"), StoreError::Unavailable(_)));
        assert!(matches!(db_error("42P01", &[], "no such table"), StoreError::Internal(_)));
        assert!(matches!(connection_failed("address postgres://h:1 is not permitted"), StoreError::Unavailable(_)));
        assert!(matches!(query_failed("Error { kind: Closed, cause: None }"), StoreError::Unavailable(_)));
        assert!(matches!(
            query_failed("Error { kind: Io, cause: Some(Os { code: 104 }) }"),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(query_failed("Error { kind: FromSql(0), cause: Some(WrongType) }"), StoreError::Internal(_)));
        assert!(matches!(other("bad parameter"), StoreError::Internal(_)));
    }

    /// Exactly what Spin 4.1 passed the adapter for a duplicate email, through `other`.
    #[test]
    fn a_duplicate_reported_as_text_is_still_a_conflict() {
        let text = include_str!("../../../stores/testdata/spin-duplicate-email.txt");
        assert_eq!(other(text), StoreError::Conflict("email".into()));
        assert_eq!(query_failed(text), StoreError::Conflict("email".into()));
    }
}
