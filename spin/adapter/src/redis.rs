//! How Spin's Redis client reports failures, mapped to the contract's errors as the native host
//! maps the redis crate's: a server that cannot be reached is `unavailable`, anything else
//! `internal`.

use asm_contract::StoreError;
use asm_stores::redis::is_unreachable;

/// `open` returned `Other`: Spin could not connect (refused, DNS, authentication).
pub fn connect_failed(detail: &str) -> StoreError {
    StoreError::Unavailable(format!("redis: {detail}"))
}

/// `open` returned `InvalidAddress`: the URL does not parse or its host is not in
/// `allowed_outbound_hosts`. A deployment mistake, not an outage.
pub fn invalid_address() -> StoreError {
    StoreError::Internal("redis: invalid address, or its host is not in allowed_outbound_hosts".into())
}

/// A command failed. Spin reports every failure as `Other(message)` (redis-rs's text), so an
/// I/O failure is told from a server's error reply by its wording.
/// Whether an error is Redis's answer to `EVALSHA` of a script it does not hold (a new server,
/// a restart, `SCRIPT FLUSH`): send the source with `EVAL` then.
pub fn is_noscript(message: &str) -> bool {
    message.contains("NOSCRIPT")
}

pub fn command_failed(message: &str) -> StoreError {
    if is_unreachable(message) {
        StoreError::Unavailable(format!("redis: {message}"))
    } else {
        StoreError::Internal(format!("redis: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_like_the_native_store() {
        assert!(matches!(command_failed("Connection refused (os error 111)"), StoreError::Unavailable(_)));
        assert!(matches!(
            command_failed("ERR user_script:1: Script attempted to access nonexistent global"),
            StoreError::Internal(_)
        ));
        assert!(matches!(connect_failed("refused"), StoreError::Unavailable(_)));
        assert!(matches!(invalid_address(), StoreError::Internal(_)));
        // What EVALSHA of an unknown script gets: an Internal error, recognised for the EVAL retry.
        let unknown = command_failed("NOSCRIPT No matching script. Please use EVAL.");
        assert!(matches!(&unknown, StoreError::Internal(m) if is_noscript(m)));
        assert!(!is_noscript("ERR wrong number of arguments for 'evalsha' command"));
    }
}
