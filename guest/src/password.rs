//! bcrypt hashing and the rules a new password must meet.

/// bcrypt uses at most this many bytes; longer passwords are refused rather than truncated.
pub const MAX_BYTES: usize = 72;
pub const MIN_CHARS: usize = 8;

/// Why a password is not acceptable, or None when it is.
pub fn problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_CHARS {
        return Some(format!("must be at least {MIN_CHARS} characters"));
    }
    if password.len() > MAX_BYTES {
        return Some(format!("must be at most {MAX_BYTES} bytes (bcrypt's limit); this one is {}", password.len()));
    }
    if password.chars().any(char::is_control) {
        return Some("must not contain control characters".into());
    }
    None
}

/// Why a new password is not acceptable for this account (NIST SP 800-63B: length, no
/// composition rules, not a commonly used password, not the account's own name), or None.
pub fn problem_for_account(password: &str, email: &str, username: &str) -> Option<String> {
    if let Some(p) = problem(password) {
        return Some(p);
    }
    let lower = password.to_lowercase();
    if passwords::analyzer::is_common_password(password) || passwords::analyzer::is_common_password(&lower) {
        return Some("is one of the most commonly used passwords; choose another".into());
    }
    let local = email.split('@').next().unwrap_or_default();
    if lower == email.to_lowercase()
        || lower == username.to_lowercase()
        || (local.len() >= 3 && lower == local.to_lowercase())
    {
        return Some("must not be your email address or username".into());
    }
    None
}

/// The cost a bcrypt hash was made with.
pub fn cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

pub fn hash(password: &str, cost: u32) -> Result<String, String> {
    bcrypt::hash(password, cost).map_err(|e| format!("bcrypt hash: {e}"))
}

/// Checks a password against a stored hash. Over-long passwords never match (they cannot have
/// been registered) but still cost one hash, so the answer takes the same time.
pub fn verify(password: &str, hash: &str) -> bool {
    let candidate = if password.len() > MAX_BYTES { &password[..floor_char(password, MAX_BYTES)] } else { password };
    let ok = bcrypt::verify(candidate, hash).unwrap_or(false);
    ok && password.len() <= MAX_BYTES
}

/// A syntactically valid bcrypt hash of the given cost that no password matches in practice:
/// verifying against it costs what a real verification costs. Used for unknown emails.
pub fn dummy_hash(cost: u32) -> String {
    format!("$2b${cost:02}$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules_count_characters_and_bytes() {
        assert!(problem("short").is_some());
        assert!(problem("long enough").is_none());
        assert!(problem(&"a".repeat(72)).is_none());
        assert!(problem(&"a".repeat(73)).unwrap().contains("72 bytes"));
        // 8 characters, 24 bytes: allowed; 25 three-byte characters = 75 bytes: refused.
        assert!(problem("日本語のパスワード").is_none());
        assert!(problem(&"語".repeat(25)).is_some());
        assert!(problem("tab\there!!").is_some());
    }

    #[test]
    fn common_passwords_and_own_names_are_refused_with_the_reason() {
        assert!(problem_for_account("password1", "a@b.co", "abc").unwrap().contains("commonly used"));
        assert!(problem_for_account("Iloveyou1", "a@b.co", "abc").unwrap().contains("commonly used"));
        assert!(problem_for_account("ada@example.com", "ada@example.com", "ada").unwrap().contains("email"));
        assert!(problem_for_account("AdaLovelace", "x@example.com", "adalovelace").unwrap().contains("username"));
        assert!(problem_for_account("correct horse battery", "a@b.co", "abc").is_none());
        assert!(problem_for_account("short", "a@b.co", "abc").unwrap().contains("8 characters"));
    }

    #[test]
    fn cost_is_read_from_the_hash() {
        assert_eq!(cost_of(&dummy_hash(11)), Some(11));
        assert_eq!(cost_of("garbage"), None);
    }

    #[test]
    fn every_hash_has_its_own_salt() {
        assert_ne!(hash("correct horse", 4).unwrap(), hash("correct horse", 4).unwrap());
    }

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse", 4).unwrap();
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
    }

    #[test]
    fn over_long_password_never_verifies_even_when_its_prefix_matches() {
        let p = "x".repeat(72);
        let h = hash(&p, 4).unwrap();
        assert!(verify(&p, &h));
        assert!(!verify(&format!("{p}y"), &h));
    }

    #[test]
    fn dummy_hash_parses_at_the_requested_cost_and_matches_nothing() {
        for cost in [4, 10, 12] {
            let d = dummy_hash(cost);
            assert!(d.starts_with(&format!("$2b${cost:02}$")));
            assert_eq!(d.len(), 60);
            assert!(matches!(bcrypt::verify("password", &d), Ok(false)), "{d}");
        }
    }
}
