//! The keys a host holds for the component (`keyring` in wit/asm.wit): a current key, used to
//! sign, and previous ones, still accepted when verifying, so a key can be replaced without
//! invalidating at once what the old one signed. Each purpose gets a key of its own, derived
//! from the master key (HMAC-SHA256 of the purpose's name), so a MAC made for one purpose is
//! never valid for another. The same keys seal secrets the stores keep for the component (TOTP
//! secrets): XChaCha20-Poly1305 under a key derived per purpose; previous keys still open.

use asm_contract::Keyring;
use base64::Engine as _;
use chacha20poly1305::KeyInit as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Fewer bytes than this is not a key.
pub const MIN_KEY_BYTES: usize = 32;

pub struct SecretKeys {
    current: Vec<u8>,
    previous: Vec<Vec<u8>>,
}

/// Never the keys themselves.
impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKeys(1 current, {} previous)", self.previous.len())
    }
}

impl SecretKeys {
    /// Keys given as base64 text (standard or URL-safe alphabet, padded or not): the current one,
    /// and previous ones separated by commas or spaces.
    pub fn parse(current: &str, previous: &str) -> Result<SecretKeys, String> {
        let decode = |text: &str| -> Result<Vec<u8>, String> {
            let text = text.trim();
            let bytes = [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ]
            .iter()
            .find_map(|e| e.decode(text).ok())
            .ok_or("a key must be base64 (e.g. the output of `openssl rand -base64 32`)")?;
            if bytes.len() < MIN_KEY_BYTES {
                return Err(format!(
                    "a key must be at least {MIN_KEY_BYTES} random bytes; this one is {}",
                    bytes.len()
                ));
            }
            if is_published(&bytes) {
                return Err("this key is public (it was once committed to the repository): make a new one with \
                    `openssl rand -base64 32`, and treat device cookies and sealed TOTP secrets made with it \
                    as known to anyone"
                    .into());
            }
            Ok(bytes)
        };
        let current = decode(current)?;
        let previous =
            previous.split([',', ' ', '\n']).filter(|k| !k.trim().is_empty()).map(decode).collect::<Result<_, _>>()?;
        Ok(SecretKeys { current, previous })
    }

    /// A key as base64 text, for writing a new key file.
    pub fn encode(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// The SHA-256 of keys that are public: the development key file committed in c4c055c (and
/// removed in d10baed) is in the repository's history for anyone to read. The key itself is not
/// repeated here.
const PUBLISHED: [&str; 1] = ["7ad79909514b9ede5eee4aaa11378253746d367fa4ec327fe5ff1c771676d919"];

fn is_published(key: &[u8]) -> bool {
    use sha2::Digest as _;
    let digest = Sha256::digest(key);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    PUBLISHED.contains(&hex.as_str())
}

fn purpose_key(master: &[u8], purpose: &str) -> HmacSha256 {
    let mut derive = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes keys of any length");
    derive.update(b"asm-keyring/");
    derive.update(purpose.as_bytes());
    let key = derive.finalize().into_bytes();
    <HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC takes keys of any length")
}

impl Keyring for SecretKeys {
    fn sign(&self, purpose: &str, message: &[u8]) -> Vec<u8> {
        let mut mac = purpose_key(&self.current, purpose);
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    fn verify(&self, purpose: &str, message: &[u8], tag: &[u8]) -> bool {
        std::iter::once(&self.current).chain(&self.previous).any(|master| {
            let mut mac = purpose_key(master, purpose);
            mac.update(message);
            // Compared in constant time.
            mac.verify_slice(tag).is_ok()
        })
    }

    fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the system's CSPRNG answers");
        let sealed = seal_cipher(&self.current, purpose)
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: purpose.as_bytes() })
            .expect("XChaCha20-Poly1305 seals any message that fits in memory");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(SEAL_FORMAT);
        out.extend_from_slice(&nonce);
        out.extend(sealed);
        out
    }

    fn open(&self, purpose: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&format, rest) = sealed.split_first()?;
        if format != SEAL_FORMAT || rest.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_BYTES);
        std::iter::once(&self.current).chain(&self.previous).find_map(|master| {
            seal_cipher(master, purpose)
                .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: purpose.as_bytes() })
                .ok()
        })
    }
}

/// Sealed boxes: a format byte, a 24-byte random nonce, then XChaCha20-Poly1305 ciphertext and
/// tag, under a key derived for the purpose (whose name is also the associated data).
const SEAL_FORMAT: u8 = 1;
const NONCE_BYTES: usize = 24;

fn seal_cipher(master: &[u8], purpose: &str) -> XChaCha20Poly1305 {
    let mut derive = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes keys of any length");
    derive.update(b"asm-keyring/seal/");
    derive.update(purpose.as_bytes());
    XChaCha20Poly1305::new(&derive.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        SecretKeys::encode(&[byte; 32])
    }

    #[test]
    fn macs_verify_for_their_purpose_and_message_only() {
        let keys = SecretKeys::parse(&key(1), "").unwrap();
        let tag = keys.sign("device", b"hello");
        assert_eq!(tag.len(), 32);
        assert!(keys.verify("device", b"hello", &tag));
        assert!(!keys.verify("device", b"hellO", &tag));
        assert!(!keys.verify("other", b"hello", &tag));
        assert!(!keys.verify("device", b"hello", &tag[..31]));
        assert!(!SecretKeys::parse(&key(2), "").unwrap().verify("device", b"hello", &tag));
    }

    #[test]
    fn a_rotated_key_still_verifies_what_it_signed() {
        let old = SecretKeys::parse(&key(1), "").unwrap();
        let tag = old.sign("device", b"m");
        let rotated = SecretKeys::parse(&key(2), &format!("{}, {}", key(9), key(1))).unwrap();
        assert!(rotated.verify("device", b"m", &tag));
        assert_ne!(rotated.sign("device", b"m"), tag, "new MACs use the new key");
        assert!(!SecretKeys::parse(&key(2), "").unwrap().verify("device", b"m", &tag), "until the old key is dropped");
    }

    #[test]
    fn sealed_boxes_open_for_their_purpose_under_current_or_previous_keys() {
        let old = SecretKeys::parse(&key(1), "").unwrap();
        let sealed = old.seal("totp-secret", b"twenty secret bytes!");
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "the plaintext does not show");
        assert_ne!(old.seal("totp-secret", b"twenty secret bytes!"), sealed, "a fresh nonce each time");
        assert_eq!(old.open("totp-secret", &sealed).as_deref(), Some(&b"twenty secret bytes!"[..]));
        assert_eq!(old.open("other", &sealed), None, "another purpose");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(old.open("totp-secret", &altered), None, "altered");
        assert_eq!(old.open("totp-secret", &sealed[..10]), None, "cut short");
        let rotated = SecretKeys::parse(&key(2), &key(1)).unwrap();
        assert!(rotated.open("totp-secret", &sealed).is_some(), "a previous key still opens");
        assert_eq!(SecretKeys::parse(&key(2), "").unwrap().open("totp-secret", &sealed), None, "until dropped");
    }

    #[test]
    fn keys_must_be_long_base64() {
        assert!(SecretKeys::parse("c2hvcnQ=", "").unwrap_err().contains("at least 32"));
        // The development key once committed (c4c055c) is refused as current and as previous.
        let public = "eLBrzbvkJztztb6uXsnkXkDUNaCKK/FOMlhdt4bAoyQ=";
        assert!(SecretKeys::parse(public, "").unwrap_err().contains("public"));
        let fresh = SecretKeys::encode(&[9; 32]);
        assert!(SecretKeys::parse(&fresh, public).unwrap_err().contains("public"));
        assert!(SecretKeys::parse("not base64 !", "").unwrap_err().contains("base64"));
        assert!(SecretKeys::parse(&key(1), "nope").is_err());
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; 32]);
        assert!(SecretKeys::parse(&url_safe, "").is_ok());
    }
}
