//! The second factor: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of drift
//! either way) through `totp-rs`, the `otpauth://` URI and its QR code (`qrcode`, as SVG), and
//! recovery codes. A code is matched to its step here; the store then accepts each step once
//! per user (`accept-totp-step`), so a code cannot be replayed, on this host or another.

use crate::host::System;
use crate::token::hex_sha256;
use totp_rs::{Algorithm, TOTP};

pub const STEP_SECS: u64 = 30;
pub const DIGITS: usize = 6;
/// 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
/// How many recovery codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// The keyring purpose a user's TOTP secret is sealed for: the user's own, so a sealed secret
/// copied into another account's row does not open there.
pub fn seal_purpose(user_id: &str) -> String {
    format!("totp-secret/{user_id}")
}

fn totp(secret: &[u8], digits: usize) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, digits, 1, STEP_SECS, secret.to_vec())
}

/// A new secret from the CSPRNG.
pub fn new_secret(system: &dyn System) -> Vec<u8> {
    system.random_bytes(SECRET_BYTES)
}

/// The secret as authenticator apps take it: base32 without padding.
pub fn base32(secret: &[u8]) -> String {
    totp(secret, DIGITS).get_secret_base32()
}

/// A base32 secret as an authenticator app reads it (for clients and tests).
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    totp_rs::Secret::Encoded(text.to_string()).to_bytes().ok()
}

/// The code of `step`.
pub fn code_at(secret: &[u8], step: u64) -> String {
    totp(secret, DIGITS).generate(step * STEP_SECS)
}

/// The step (the current one, or one either side) whose code `code` is, if any. Every candidate
/// is compared, in constant time, whatever matched.
pub fn matching_step(secret: &[u8], code: &str, now_ms: i64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = (now_ms.max(0) as u64) / 1000 / STEP_SECS;
    let mut found = None;
    for step in [now.saturating_sub(1), now, now + 1] {
        if constant_time_eq(code_at(secret, step).as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=<issuer>` (Key Uri Format).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent(issuer),
        percent(account),
        base32(secret),
        percent(issuer)
    )
}

/// Everything but RFC 3986 unreserved characters, percent-encoded.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The URI as a QR code, an SVG document.
pub fn qr_svg(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| format!("QR code: {e}"))?;
    Ok(code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build())
}

/// New recovery codes (each 10 base32 characters, 50 bits, shown as `xxxxx-xxxxx`) and the
/// hashes the store keeps.
pub fn recovery_codes(system: &dyn System) -> (Vec<String>, Vec<String>) {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = system.random_bytes(10);
            let chars: String = bytes.iter().map(|b| ALPHABET[(b & 31) as usize] as char).collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect();
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    (codes, hashes)
}

/// What the store keeps of a recovery code: the SHA-256 of its letters and digits, lower-cased
/// (so `ABCDE FGHIJ` and `abcde-fghij` are one code). None for text that cannot be a code.
pub fn recovery_hash(code: &str) -> String {
    let letters: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    hex_sha256(letters.as_bytes())
}

/// Whether text could be a recovery code at all (10 base32 characters, separators aside).
pub fn could_be_recovery_code(code: &str) -> bool {
    let letters: Vec<char> = code.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    letters.len() == 10 && letters.iter().all(|c| matches!(c.to_ascii_lowercase(), 'a'..='z' | '2'..='7'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (the seed is the 20 ASCII bytes "12345678901234567890").
    #[test]
    fn rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp(seed, 8).generate(time), code, "T = {time}");
            assert_eq!(code_at(seed, time / STEP_SECS), code[2..], "six digits are the last six");
        }
    }

    #[test]
    fn one_step_of_drift_either_way_is_accepted_and_two_are_not() {
        let seed = b"12345678901234567890";
        let now_ms = 1_111_111_111_000i64;
        let step = 1_111_111_111 / STEP_SECS;
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let s = (step as i64 + offset) as u64;
            let found = matching_step(seed, &code_at(seed, s), now_ms);
            assert_eq!(found == Some(s), accepted, "offset {offset}");
        }
        assert_eq!(matching_step(seed, "12345", now_ms), None, "too short");
        assert_eq!(matching_step(seed, "abcdef", now_ms), None);
        assert_eq!(matching_step(seed, &format!(" {} ", code_at(seed, step)), now_ms), Some(step), "trimmed");
    }

    #[test]
    fn the_uri_and_qr_code_carry_the_base32_secret() {
        let secret = [0u8; SECRET_BYTES];
        assert_eq!(base32(&secret), "A".repeat(32));
        let uri = otpauth_uri("Acme ID", "ada@example.com", &secret);
        assert!(uri.starts_with("otpauth://totp/Acme%20ID:ada%40example.com?secret=AAAA"), "{uri}");
        assert!(uri.contains("&issuer=Acme%20ID&algorithm=SHA1&digits=6&period=30"), "{uri}");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    }

    #[test]
    fn recovery_codes_are_ten_of_fifty_bits_and_hash_alike_however_typed() {
        struct Counter(std::sync::atomic::AtomicU8);
        impl System for Counter {
            fn now_ms(&self) -> i64 {
                0
            }
            fn random_bytes(&self, n: usize) -> Vec<u8> {
                let b = self.0.fetch_add(7, std::sync::atomic::Ordering::SeqCst);
                (0..n as u8).map(|i| b.wrapping_add(i.wrapping_mul(13))).collect()
            }
            fn sleep_ms(&self, _: u64) {}
        }
        let (codes, hashes) = recovery_codes(&Counter(Default::default()));
        assert_eq!((codes.len(), hashes.len()), (10, 10));
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 11, "{code}");
            assert!(could_be_recovery_code(code), "{code}");
            assert_eq!(&recovery_hash(&code.to_uppercase().replace('-', " ")), hash);
            assert!(!hash.contains(&code[..5]));
        }
        assert!(!could_be_recovery_code("123456"));
        assert!(!could_be_recovery_code("abcde-fghi1"));
    }
}
