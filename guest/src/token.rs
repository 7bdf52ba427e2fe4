//! Session tokens and public session ids. A token is 32 CSPRNG bytes, base64url without
//! padding (43 characters); only its SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const TOKEN_BYTES: usize = 32;
pub const TOKEN_LEN: usize = 43;

/// Encodes CSPRNG bytes as a token; the caller supplies exactly `TOKEN_BYTES` of them.
pub fn encode(random: &[u8]) -> String {
    debug_assert_eq!(random.len(), TOKEN_BYTES);
    URL_SAFE_NO_PAD.encode(random)
}

/// The public id of a session: 16 random bytes, base64url.
pub fn public_id(random: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// True for strings that could be a token we issued; anything else is rejected without a store lookup.
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN && URL_SAFE_NO_PAD.decode(token).is_ok_and(|b| b.len() == TOKEN_BYTES)
}

/// The hex SHA-256 under which a session is stored.
pub fn hash(token: &str) -> String {
    hex_sha256(token.as_bytes())
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters() {
        let t = encode(&[0xfb; TOKEN_BYTES]);
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(well_formed(&t));
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        let t = encode(&[7; TOKEN_BYTES]);
        assert!(!well_formed(&t[..42]));
        assert!(!well_formed(&format!("{t}A")));
        assert!(!well_formed(&t.replace(|_| true, "+")));
        assert!(!well_formed(""));
    }

    #[test]
    fn hash_is_hex_sha256_and_differs_from_the_token() {
        let t = encode(&[1; TOKEN_BYTES]);
        let h = hash(&t);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&t));
        assert_eq!(hex_sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
