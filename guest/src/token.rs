//! Session tokens and public session ids. A token is 32 CSPRNG bytes, base64url without
//! padding (43 characters). It exists as a [`SessionToken`], which can only be hashed (for the
//! stores) or written into the session cookie: a store operation takes a [`TokenHash`], so
//! handing one the raw token does not compile.

use crate::host::System;
use asm_contract::TokenHash;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const TOKEN_BYTES: usize = 32;
pub const TOKEN_LEN: usize = 43;

/// A bearer token, as issued at login or presented by a client.
pub struct SessionToken(String);

impl SessionToken {
    /// A new token from the system's CSPRNG.
    pub fn generate(system: &dyn System) -> SessionToken {
        SessionToken(encode(&system.random_bytes(TOKEN_BYTES)))
    }

    /// A token a client presented, if it could be one we issued; anything else is refused
    /// without a store lookup.
    pub fn parse(text: &str) -> Option<SessionToken> {
        well_formed(text).then(|| SessionToken(text.to_string()))
    }

    /// What stores keep and look the session up by.
    pub fn hash(&self) -> TokenHash {
        TokenHash::from(hex_sha256(self.0.as_bytes()))
    }

    /// The token itself, for the `Set-Cookie` header of the login response and nothing else.
    pub fn cookie_value(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

/// Encodes CSPRNG bytes as a token; the caller supplies exactly `TOKEN_BYTES` of them.
pub fn encode(random: &[u8]) -> String {
    debug_assert_eq!(random.len(), TOKEN_BYTES);
    URL_SAFE_NO_PAD.encode(random)
}

/// The public id of a session: 16 random bytes, base64url.
pub fn public_id(system: &dyn System) -> String {
    URL_SAFE_NO_PAD.encode(system.random_bytes(16))
}

/// True for strings that could be a token we issued.
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN && URL_SAFE_NO_PAD.decode(token).is_ok_and(|b| b.len() == TOKEN_BYTES)
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[(b >> 4) as usize] as char, DIGITS[(b & 15) as usize] as char]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters() {
        let t = encode(&[0xfb; TOKEN_BYTES]);
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(SessionToken::parse(&t).is_some());
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        let t = encode(&[7; TOKEN_BYTES]);
        assert!(!well_formed(&t[..42]));
        assert!(!well_formed(&format!("{t}A")));
        assert!(!well_formed(&t.replace(|_| true, "+")));
        assert!(SessionToken::parse("").is_none());
    }

    #[test]
    fn the_hash_is_hex_sha256_and_never_the_token() {
        let t = SessionToken::parse(&encode(&[1; TOKEN_BYTES])).unwrap();
        let h = t.hash();
        assert_eq!(h.as_str().len(), 64);
        assert!(!h.as_str().contains(t.cookie_value()));
        assert_eq!(format!("{t:?}"), "SessionToken(…)", "debug output never shows it");
        assert_eq!(hex_sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
