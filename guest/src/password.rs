//! Password hashing (Argon2id by default, bcrypt on request; either kind of stored hash
//! verifies) and the rules a new password must meet.

use asm_settings::PasswordHashing;

/// bcrypt uses at most this many bytes; with bcrypt, longer passwords are refused rather than
/// truncated.
pub const BCRYPT_MAX_BYTES: usize = 72;
/// The longest password any setting accepts (Argon2id's bound).
pub const MAX_BYTES: usize = 256;
pub const MIN_CHARS: usize = 8;

/// Why a password is not acceptable under `hashing`, or None when it is.
pub fn problem(password: &str, hashing: PasswordHashing) -> Option<String> {
    if password.chars().count() < MIN_CHARS {
        return Some(format!("must be at least {MIN_CHARS} characters"));
    }
    let max = hashing.max_password_bytes();
    if password.len() > max {
        return Some(format!("must be at most {max} bytes; this one is {}", password.len()));
    }
    if password.chars().any(char::is_control) {
        return Some("must not contain control characters".into());
    }
    None
}

/// Why a new password is not acceptable for this account (NIST SP 800-63B: length, no
/// composition rules, not a commonly used password, not the account's own name), or None.
pub fn problem_for_account(password: &str, email: &str, username: &str, hashing: PasswordHashing) -> Option<String> {
    if let Some(p) = problem(password, hashing) {
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

/// Whether `hash` was made as `hashing` says new hashes are made: the same algorithm with the
/// same parameters. A hash that is not (the Go service's bcrypt at cost 10, bcrypt after a switch
/// to Argon2id, other parameters) is replaced at the next successful sign-in.
pub fn is_current(hash: &str, hashing: PasswordHashing) -> bool {
    match hashing {
        PasswordHashing::Bcrypt { cost } => {
            hash.starts_with("$2") && hash.split('$').nth(2).and_then(|c| c.parse::<u32>().ok()) == Some(cost)
        }
        PasswordHashing::Argon2id { .. } => argon2::PasswordHash::new(hash).is_ok_and(|h| {
            h.algorithm == argon2::ARGON2ID_IDENT
                && argon2_of(hashing)
                    .is_some_and(|a| argon2::Params::try_from(&h).is_ok_and(|p| params_equal(&p, a.params())))
        }),
    }
}

fn params_equal(a: &argon2::Params, b: &argon2::Params) -> bool {
    (a.m_cost(), a.t_cost(), a.p_cost()) == (b.m_cost(), b.t_cost(), b.p_cost())
}

fn argon2_of(hashing: PasswordHashing) -> Option<argon2::Argon2<'static>> {
    let PasswordHashing::Argon2id { memory_kib, iterations, parallelism } = hashing else { return None };
    let params = argon2::Params::new(memory_kib, iterations, parallelism, None).ok()?;
    Some(argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params))
}

/// A new hash of `password`: a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) or a bcrypt
/// one (`$2b$12$…`), with a fresh random salt.
pub fn hash(password: &str, hashing: PasswordHashing) -> Result<String, String> {
    match hashing {
        PasswordHashing::Bcrypt { cost } => bcrypt::hash(password, cost).map_err(|e| format!("bcrypt hash: {e}")),
        PasswordHashing::Argon2id { .. } => {
            use argon2::PasswordHasher as _;
            let argon2 = argon2_of(hashing).ok_or("Argon2id parameters out of range")?;
            let mut salt = [0u8; 16];
            getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
            let salt = argon2::password_hash::SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
            argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| format!("Argon2id hash: {e}"))
        }
    }
}

/// Checks a password against a stored hash of either kind (bcrypt `$2a$`/`$2b$`/`$2y$`, or
/// Argon2id with the parameters it names). A password longer than any this service accepts
/// never matches, but still costs one verification of what it would have been (its longest
/// accepted prefix), so the answer takes the same time.
pub fn verify(password: &str, hash: &str) -> bool {
    let limit = if hash.starts_with("$2") { BCRYPT_MAX_BYTES } else { MAX_BYTES };
    let candidate = if password.len() > limit { &password[..floor_char(password, limit)] } else { password };
    let ok = if hash.starts_with("$argon2") {
        use argon2::PasswordVerifier as _;
        argon2::PasswordHash::new(hash)
            .is_ok_and(|h| argon2::Argon2::default().verify_password(candidate.as_bytes(), &h).is_ok())
    } else {
        bcrypt::verify(candidate, hash).unwrap_or(false)
    };
    ok && password.len() <= limit
}

/// A well-formed hash of the current setting that no password matches in practice: verifying
/// against it costs what a real verification costs. Used for unknown emails.
pub fn dummy_hash(hashing: PasswordHashing) -> String {
    match hashing {
        PasswordHashing::Bcrypt { cost } => {
            format!("$2b${cost:02}$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
        }
        // Salt and output are fixed bytes no password was hashed to; verification recomputes
        // the whole hash under the parameters it names before comparing.
        PasswordHashing::Argon2id { memory_kib, iterations, parallelism } => format!(
            "$argon2id$v=19$m={memory_kib},t={iterations},p={parallelism}$Q0NDQ0NDQ0NDQ0NDQ0NDQw$Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M"
        ),
    }
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

    /// Small parameters keep the tests fast; the code path is the one the default takes.
    const ARGON2: PasswordHashing = PasswordHashing::Argon2id { memory_kib: 64, iterations: 1, parallelism: 1 };
    const BCRYPT: PasswordHashing = PasswordHashing::Bcrypt { cost: 4 };

    #[test]
    fn length_rules_count_characters_and_bytes() {
        assert!(problem("short", ARGON2).is_some());
        assert!(problem("long enough", ARGON2).is_none());
        assert!(problem(&"a".repeat(72), BCRYPT).is_none());
        assert!(problem(&"a".repeat(73), BCRYPT).unwrap().contains("72 bytes"));
        // Argon2id reads every byte: a long passphrase is fine, up to the documented bound.
        assert!(problem(&"a".repeat(200), ARGON2).is_none());
        assert!(problem(&"a".repeat(257), ARGON2).unwrap().contains("256 bytes"));
        // 8 characters, 24 bytes: allowed; 25 three-byte characters = 75 bytes: refused by bcrypt.
        assert!(problem("日本語のパスワード", BCRYPT).is_none());
        assert!(problem(&"語".repeat(25), BCRYPT).is_some());
        assert!(problem(&"語".repeat(25), ARGON2).is_none());
        assert!(problem("tab\there!!", ARGON2).is_some());
    }

    #[test]
    fn common_passwords_and_own_names_are_refused_with_the_reason() {
        let p = |pw: &str, email: &str, user: &str| problem_for_account(pw, email, user, ARGON2);
        assert!(p("password1", "a@b.co", "abc").unwrap().contains("commonly used"));
        assert!(p("Iloveyou1", "a@b.co", "abc").unwrap().contains("commonly used"));
        assert!(p("ada@example.com", "ada@example.com", "ada").unwrap().contains("email"));
        assert!(p("AdaLovelace", "x@example.com", "adalovelace").unwrap().contains("username"));
        assert!(p("correct horse battery", "a@b.co", "abc").is_none());
        assert!(p("short", "a@b.co", "abc").unwrap().contains("8 characters"));
    }

    #[test]
    fn argon2id_hashes_are_phc_strings_with_their_parameters_and_a_salt_each() {
        let h = hash("correct horse", ARGON2).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert_ne!(h, hash("correct horse", ARGON2).unwrap());
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(is_current(&h, ARGON2));
        assert!(!is_current(&h, PasswordHashing::Argon2id { memory_kib: 128, iterations: 1, parallelism: 1 }));
        assert!(!is_current(&h, BCRYPT));
    }

    #[test]
    fn bcrypt_hashes_of_every_prefix_still_verify_and_are_not_current_under_argon2id() {
        // The Go service's hashes: $2a$ at cost 10.
        let go = bcrypt::hash_with_result("correct horse", 10).unwrap().format_for_version(bcrypt::Version::TwoA);
        assert!(go.starts_with("$2a$10$"));
        assert!(verify("correct horse", &go));
        assert!(!verify("wrong horse", &go));
        assert!(!is_current(&go, ARGON2));
        assert!(!is_current(&go, PasswordHashing::Bcrypt { cost: 12 }));
        assert!(is_current(&go, PasswordHashing::Bcrypt { cost: 10 }));
        let ours = hash("correct horse", BCRYPT).unwrap();
        assert!(ours.starts_with("$2b$04$") && verify("correct horse", &ours) && is_current(&ours, BCRYPT));
        assert_ne!(ours, hash("correct horse", BCRYPT).unwrap());
        assert!(!is_current("", ARGON2) && !is_current("garbage", BCRYPT) && !verify("x", ""));
    }

    #[test]
    fn over_long_password_never_verifies_even_when_its_prefix_matches() {
        let p = "x".repeat(72);
        let h = hash(&p, BCRYPT).unwrap();
        assert!(verify(&p, &h));
        assert!(!verify(&format!("{p}y"), &h));
        let p = "x".repeat(MAX_BYTES);
        let h = hash(&p, ARGON2).unwrap();
        assert!(verify(&p, &h));
        assert!(!verify(&format!("{p}y"), &h));
    }

    #[test]
    fn dummy_hashes_parse_with_the_current_parameters_and_match_nothing() {
        for cost in [4, 10, 12] {
            let d = dummy_hash(PasswordHashing::Bcrypt { cost });
            assert!(d.starts_with(&format!("$2b${cost:02}$")));
            assert_eq!(d.len(), 60);
            assert!(matches!(bcrypt::verify("password", &d), Ok(false)), "{d}");
        }
        for hashing in [ARGON2, PasswordHashing::Argon2id { memory_kib: 256, iterations: 2, parallelism: 2 }] {
            let d = dummy_hash(hashing);
            assert!(is_current(&d, hashing), "{d}");
            assert!(!verify("password", &d));
        }
    }
}
