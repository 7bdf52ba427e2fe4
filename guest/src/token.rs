//! Session tokens and public session ids. A token is the routing tag of its user's sessions
//! ([`asm_contract::route_tag`], 4 bytes) followed by 32 CSPRNG bytes, base64url without
//! padding (48 characters): the tag lets a sharded store find the session from the token
//! alone and keep a user's sessions together; the 256 random bits are the secret. It exists
//! as a [`SessionToken`], which can only be hashed (for the stores) or written into the
//! session cookie: a store operation takes a [`TokenHash`], so handing one the raw token does
//! not compile.

use crate::host::System;
use asm_contract::{ROUTE_BYTES, TokenHash, UserId, route_bytes};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The secret part of a token.
pub const SECRET_BYTES: usize = 32;
pub const TOKEN_BYTES: usize = ROUTE_BYTES + SECRET_BYTES;
pub const TOKEN_LEN: usize = 48;

/// A bearer token, as issued at login or presented by a client.
pub struct SessionToken(String);

impl SessionToken {
    /// A new token for a session of `user`, its secret from the system's CSPRNG.
    pub fn generate(system: &dyn System, user: &UserId) -> SessionToken {
        let mut bytes = route_bytes(user.as_str()).to_vec();
        bytes.extend(system.random_bytes(SECRET_BYTES));
        SessionToken(encode(&bytes))
    }

    /// A token a client presented, if it could be one we issued; anything else is refused
    /// without a store lookup.
    pub fn parse(text: &str) -> Option<SessionToken> {
        well_formed(text).then(|| SessionToken(text.to_string()))
    }

    /// What stores keep and look the session up by: the routing tag, a dot, and the hex
    /// SHA-256 of the whole token.
    pub fn hash(&self) -> TokenHash {
        let bytes = URL_SAFE_NO_PAD.decode(&self.0).expect("a SessionToken is well formed");
        TokenHash::from(format!("{}.{}", hex(&bytes[..ROUTE_BYTES]), hex_sha256(self.0.as_bytes())))
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

/// Encodes a token's bytes (routing tag and secret); the caller supplies exactly
/// `TOKEN_BYTES` of them.
pub fn encode(bytes: &[u8]) -> String {
    debug_assert_eq!(bytes.len(), TOKEN_BYTES);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token mailed in a link (password reset, email verification): 32 CSPRNG bytes,
/// base64url (43 characters). Stores keep only its [`MailToken::hash`].
pub struct MailToken(String);

pub const MAIL_TOKEN_LEN: usize = 43;

impl MailToken {
    pub fn generate(system: &dyn System) -> MailToken {
        MailToken(URL_SAFE_NO_PAD.encode(system.random_bytes(SECRET_BYTES)))
    }

    /// A token from a request, if it could be one we mailed.
    pub fn parse(text: &str) -> Option<MailToken> {
        let ok = text.len() == MAIL_TOKEN_LEN && URL_SAFE_NO_PAD.decode(text).is_ok_and(|b| b.len() == SECRET_BYTES);
        ok.then(|| MailToken(text.to_string()))
    }

    /// The hex SHA-256 of the token: what the user store keeps.
    pub fn hash(&self) -> String {
        hex_sha256(self.0.as_bytes())
    }

    /// The token itself, for the link in the mail and nothing else.
    pub fn link_value(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MailToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailToken(…)")
    }
}

/// The public id of a session: 16 random bytes, base64url.
pub fn public_id(system: &dyn System) -> String {
    URL_SAFE_NO_PAD.encode(system.random_bytes(16))
}

/// True for strings that could be a token we issued (tokens of releases before the routing
/// tag, 43 characters, are not: those sessions ended once at the upgrade).
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

    fn encode_any(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    struct Fixed;
    impl System for Fixed {
        fn now_ms(&self) -> i64 {
            0
        }
        fn random_bytes(&self, n: usize) -> Vec<u8> {
            vec![0xab; n]
        }
        fn sleep_ms(&self, _ms: u64) {}
    }

    #[test]
    fn a_new_token_carries_its_users_route() {
        let user = UserId::from("7c9e6679-7425-40de-944b-e07fc1f90ae7");
        let t = SessionToken::generate(&Fixed, &user);
        assert!(well_formed(t.cookie_value()));
        assert_eq!(t.hash().route(), Some(asm_contract::route_tag(user.as_str()).as_str()));
        let other = SessionToken::generate(&Fixed, &UserId::from("someone else"));
        assert_ne!(t.hash().route(), other.hash().route());
    }

    #[test]
    fn mail_tokens_are_43_characters_of_32_random_bytes_kept_only_as_a_hash() {
        let t = MailToken::generate(&Fixed);
        assert_eq!(t.link_value().len(), MAIL_TOKEN_LEN);
        assert!(MailToken::parse(t.link_value()).is_some());
        assert_eq!(t.hash(), hex_sha256(t.link_value().as_bytes()));
        assert!(!t.hash().contains(t.link_value()));
        assert!(MailToken::parse(&t.link_value()[..42]).is_none());
        assert!(MailToken::parse(&format!("{}=", t.link_value())).is_none());
        assert!(MailToken::parse(&"+".repeat(43)).is_none());
        assert_eq!(format!("{t:?}"), "MailToken(…)");
    }

    #[test]
    fn tokens_are_48_url_safe_characters() {
        let t = encode(&[0xfb; TOKEN_BYTES]);
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(SessionToken::parse(&t).is_some());
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        let t = encode(&[7; TOKEN_BYTES]);
        assert!(!well_formed(&t[..47]));
        assert!(!well_formed(&encode_any(&[7; 32])), "a token from before the routing tag");
        assert!(!well_formed(&format!("{t}A")));
        assert!(!well_formed(&t.replace(|_| true, "+")));
        assert!(SessionToken::parse("").is_none());
    }

    #[test]
    fn the_hash_is_the_route_and_hex_sha256_and_never_the_token() {
        let t = SessionToken::parse(&encode(&[1; TOKEN_BYTES])).unwrap();
        let h = t.hash();
        assert_eq!(h.as_str().len(), 8 + 1 + 64);
        assert_eq!(h.route(), Some("01010101"));
        assert_eq!(h.as_str()[9..], hex_sha256(t.cookie_value().as_bytes()));
        assert!(!h.as_str().contains(t.cookie_value()));
        assert_eq!(format!("{t:?}"), "SessionToken(…)", "debug output never shows it");
        assert_eq!(hex_sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
