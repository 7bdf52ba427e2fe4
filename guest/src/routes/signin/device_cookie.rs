//! Device cookies (OWASP's "device cookies" against online guessing): a browser that has signed
//! in to an account before carries one, and its password checks are counted on a counter of its
//! own, so a stranger's guesses do not lock the owner's known browsers out.
//!
//! A cookie is trusted only while it can still stand for the owner:
//! - it names the account's credential version: a password change or reset voids every cookie
//!   issued before it (the browser that made the change gets a new one);
//! - it carries its number among the account's cookies (`devices_issued`, counted by the store at
//!   each sign-in): only the newest [`TRUSTED_PER_ACCOUNT`] are trusted, so however often someone
//!   signs in, an account has at most that many counters of its own.
//!
//! Value: `base64url(payload).base64url(tag)`; the payload is a format byte, the first 16 bytes
//! of the SHA-256 of the email, the credential version and the cookie's number (8 bytes each,
//! big-endian) and 16 random bytes (the device id); the tag is the host keyring's MAC of it.

use crate::auth::cookie_values;
use crate::config::Settings;
use crate::host::Host;
use crate::http::Request;
use crate::token::hex;
use crate::validation::Email;
use asm_contract::{Keyring, User};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// How long a device cookie lasts.
pub const DAYS: u64 = 180;
/// How many of an account's newest device cookies are trusted.
pub const TRUSTED_PER_ACCOUNT: u64 = 10;
const PURPOSE: &str = "device-cookie";
/// Format 1 (before credential versions and numbers) is no longer trusted.
const FORMAT: u8 = 2;
const DIGEST: usize = 16;
const ID: usize = 16;
const PAYLOAD: usize = 1 + DIGEST + 8 + 8 + ID;

/// The name of the device cookie: the session cookie's, with `_device` after it.
pub fn name(s: &Settings) -> String {
    format!("{}_device", s.cookie_name)
}

fn email_digest(email: &Email) -> [u8; DIGEST] {
    let digest = Sha256::digest(email.as_str().as_bytes());
    digest[..DIGEST].try_into().expect("a SHA-256 digest has 32 bytes")
}

/// The device id, when the request carries exactly one device cookie made by this service's
/// keys for this account, for its current credential version, and among its newest.
pub fn trusted(
    req: &Request,
    s: &Settings,
    keyring: &dyn Keyring,
    email: &Email,
    user: Option<&User>,
) -> Option<String> {
    let user = user?;
    let [value] = cookie_values(req, &name(s))[..] else { return None };
    let (payload, tag) = value.split_once('.')?;
    let (payload, tag) = (URL_SAFE_NO_PAD.decode(payload).ok()?, URL_SAFE_NO_PAD.decode(tag).ok()?);
    if payload.len() != PAYLOAD || payload[0] != FORMAT || payload[1..1 + DIGEST] != email_digest(email) {
        return None;
    }
    let number_at = |at: usize| u64::from_be_bytes(payload[at..at + 8].try_into().expect("8 bytes"));
    let (version, number) = (number_at(1 + DIGEST), number_at(1 + DIGEST + 8));
    let newest = number <= user.devices_issued && number + TRUSTED_PER_ACCOUNT > user.devices_issued;
    if version != user.credential_version || !newest {
        return None;
    }
    keyring.verify(PURPOSE, &payload, &tag).then(|| hex(&payload[PAYLOAD - ID..]))
}

/// A new device cookie (`Set-Cookie` value) for the account with this email, as of credential
/// version `version`, numbered `number` among its cookies.
pub fn issue(host: &Host<'_>, s: &Settings, email: &Email, version: u64, number: u64) -> String {
    let mut payload = Vec::with_capacity(PAYLOAD);
    payload.push(FORMAT);
    payload.extend_from_slice(&email_digest(email));
    payload.extend_from_slice(&version.to_be_bytes());
    payload.extend_from_slice(&number.to_be_bytes());
    payload.extend_from_slice(&host.system.random_bytes(ID));
    let tag = host.keyring.sign(PURPOSE, &payload);
    let value = format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag));
    let secure = if s.cookie_secure { "; Secure" } else { "" };
    let max_age = DAYS * 24 * 3600;
    format!("{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", name(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSystem;
    use asm_contract::{NoGeo, Unbounded};
    use asm_stores::keyring::SecretKeys;
    use asm_stores::memory::MemoryStore;

    fn user(version: u64, issued: u64) -> User {
        let new = asm_contract::NewUser {
            email: "ada@example.com".into(),
            username: "ada".into(),
            full_name: "Ada".into(),
            password_hash: String::new(),
        };
        User { credential_version: version, devices_issued: issued, ..new.into_user("u1".into(), 0) }
    }

    /// A cookie is trusted for its account's current credential version and among its newest.
    #[test]
    fn trust_follows_the_credential_version_and_the_newest_cookies() {
        let (store, system) = (MemoryStore::new(), FakeSystem::starting_at(0));
        let keys = SecretKeys::parse(&SecretKeys::encode(&[7; 32]), "").unwrap();
        let host = Host {
            users: &store,
            sessions: &store,
            geo: &NoGeo,
            keyring: &keys,
            mailer: &store,
            events: &store,
            hashing: &Unbounded,
            system: &system,
        };
        let s = Settings::default();
        let email = Email::parse("ada@example.com").unwrap();
        let request = |version: u64, number: u64| {
            let cookie = issue(&host, &s, &email, version, number);
            let value = cookie.split(';').next().unwrap().to_string();
            Request::new("POST", "/auth/login").header("cookie", value)
        };
        let trusted_for = |req: &Request, u: &User| trusted(req, &s, &keys, &email, Some(u)).is_some();
        let current = request(3, 12);
        assert!(trusted_for(&current, &user(3, 12)));
        assert!(!trusted_for(&current, &user(4, 12)), "a password change voids it");
        assert!(trusted_for(&current, &user(3, 21)), "the 10th newest");
        assert!(!trusted_for(&current, &user(3, 22)), "past the 10 newest");
        assert!(!trusted_for(&current, &user(3, 11)), "a number the account never issued");
        assert!(trusted(&current, &s, &keys, &email, None).is_none(), "no account, no trust");
        let other = Email::parse("eve@example.com").unwrap();
        assert!(trusted(&current, &s, &keys, &other, Some(&user(3, 12))).is_none(), "another account's");
        let other_keys = SecretKeys::parse(&SecretKeys::encode(&[8; 32]), "").unwrap();
        assert!(trusted(&current, &s, &other_keys, &email, Some(&user(3, 12))).is_none(), "another key's");
    }
}
