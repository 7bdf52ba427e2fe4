//! Reading the session token from `Authorization` and `Cookie` headers with arbitrary bytes.
//! Input: one flag byte, then header values separated by 0xff: the first is the
//! `Authorization` value (sent only when flag bit 0 is set), the others are `Cookie` headers.
#![no_main]

use asm_guest::http::Request;
use asm_guest::auth::{bearer_token, cookie_value};
use asm_guest::token::{self, TOKEN_BYTES, TOKEN_LEN};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;

const COOKIE: &str = "session_token";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut parts = rest.split(|&b| b == 0xff);
    let authorization = parts.next().unwrap_or_default();
    let mut req = Request::new("GET", "/auth/user/me");
    if flags & 1 == 1 {
        // Header names are case-insensitive; the host lower-cases them, test the other spelling too.
        req = req.header(if flags & 2 == 2 { "Authorization" } else { "authorization" }, authorization);
    }
    for cookie in parts.take(8) {
        req = req.header("cookie", cookie);
    }

    if let Some(t) = bearer_token(&req) {
        assert!(flags & 1 == 1, "a bearer token without an Authorization header");
        assert_eq!(t, t.trim(), "bearer tokens are trimmed");
        let header = std::str::from_utf8(authorization).expect("a token came from a UTF-8 header");
        assert!(header.contains(t));
        check_token(t);
    }
    if let Some(v) = cookie_value(&req, COOKIE) {
        assert!(!v.contains(';'), "a cookie value spans pairs: {v:?}");
        assert!(!v.starts_with('"') && !v.ends_with('"'), "quotes are stripped: {v:?}");
        assert!(rest.windows(COOKIE.len()).any(|w| w == COOKIE.as_bytes()), "cookie found without its name");
        check_token(v);
    }
});

fn check_token(t: &str) {
    if token::well_formed(t) {
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{t:?}");
        // Only canonical encodings are accepted: one token, one byte string, one stored hash.
        let bytes = URL_SAFE_NO_PAD.decode(t).expect("well-formed tokens decode");
        assert_eq!(bytes.len(), TOKEN_BYTES);
        assert_eq!(token::encode(&bytes), t, "non-canonical token accepted");
    }
    let h = token::hex_sha256(t.as_bytes());
    assert!(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    // The stored hash: the routing tag the token carries, then the hash of the whole token.
    let expected = token::well_formed(t).then(|| {
        let bytes = URL_SAFE_NO_PAD.decode(t).expect("well-formed tokens decode");
        format!("{}.{h}", token::hex(&bytes[..asm_contract::ROUTE_BYTES]))
    });
    assert_eq!(token::SessionToken::parse(t).map(|p| p.hash().into_string()), expected);
}
