//! The request-body validators on arbitrary bytes, and on JSON objects whose field values are
//! arbitrary text (so the field checks themselves are reached, not just the JSON parser).
//! Besides never panicking: every accepted body satisfies the rules it was checked against,
//! every refusal renders as a 400 JSON envelope, and what registration accepts, login accepts.
#![no_main]

use asm_guest::envelope::ApiError;
use asm_guest::validation::{self, Credentials, EMAIL_MAX, FULL_NAME_MAX, USERNAME_MAX, USERNAME_MIN};
use asm_guest::{password, validation::normalize_email};
use asm_guest::config::PasswordHashing;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// The default hash's rules (only its length bound matters here).
const HASHING: PasswordHashing = PasswordHashing::ARGON2ID_DEFAULT;

const FIELDS: [&str; 6] = ["email", "username", "password", "full_name", "current_password", "new_password"];

fuzz_target!(|data: &[u8]| {
    check(data);
    // The same bytes as field values: split on 0xff, one piece per field in FIELDS order; a
    // piece starting with 0xfe becomes a non-string (number, null, array) to reach type errors.
    let mut obj = Map::new();
    for (field, piece) in FIELDS.iter().zip(data.split(|&b| b == 0xff)) {
        let value = match piece {
            [0xfe, 0, ..] => Value::Null,
            [0xfe, 1, ..] => Value::from(piece.len()),
            [0xfe, 2, rest @ ..] => Value::Array(vec![Value::String(String::from_utf8_lossy(rest).into_owned())]),
            [0xfe, 3, ..] => continue, // missing
            _ => Value::String(String::from_utf8_lossy(piece).into_owned()),
        };
        obj.insert((*field).to_string(), value);
    }
    let body = serde_json::to_vec(&Value::Object(obj)).expect("a map of strings serialises");
    check(&body);
});

fn check(body: &[u8]) {
    let registration = validation::registration(body, HASHING);
    let credentials = validation::credentials(body);
    let change = validation::password_change(body);

    if let Ok(r) = &registration {
        let email = r.email.as_str();
        assert_eq!(email, normalize_email(email), "emails are stored normalised");
        assert!(!email.is_empty() && email.len() <= EMAIL_MAX && email.contains('@'));
        assert!(!email.chars().any(char::is_control));
        let n = r.username.chars().count();
        assert!((USERNAME_MIN..=USERNAME_MAX).contains(&n), "username of {n} characters accepted");
        assert_eq!(r.username, r.username.trim());
        assert!(!r.username.chars().any(char::is_control));
        assert!(!r.full_name.is_empty() && r.full_name.chars().count() <= FULL_NAME_MAX);
        assert!(!r.full_name.chars().any(char::is_control));
        assert_eq!(password::problem(&r.password, HASHING), None, "accepted password breaks the rules");
        assert!(r.password.len() <= password::MAX_BYTES);
        // Anyone who could register can log in with the same body.
        match &credentials {
            Ok(Credentials { email, password }) => {
                assert_eq!((email, password), (&r.email, &r.password));
            }
            Err(e) => panic!("registration accepted but login refused the same body: {e:?}"),
        }
    }
    if let Ok(c) = &credentials {
        let email = c.email.as_str();
        assert!(!email.is_empty() && !c.password.is_empty());
        assert!(email.len() <= EMAIL_MAX && !email.chars().any(char::is_control));
        assert_eq!(email, normalize_email(email));
    }
    if let Ok(p) = &change {
        // Only presence is checked here; the route checks the new password for the account.
        let _ = (&p.current_password, &p.new_password);
    }
    for err in [registration.err(), credentials.err(), change.err()].into_iter().flatten() {
        assert!(matches!(err, ApiError::BadRequest(_) | ApiError::Validation(_)), "unexpected error {err:?}");
        let resp = err.into_response();
        assert_eq!(resp.status, 400);
        let v: Value = serde_json::from_slice(&resp.body).expect("error bodies are JSON");
        assert_eq!(v["status"], 400);
    }
}
