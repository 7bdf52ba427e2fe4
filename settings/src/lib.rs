//! The settings the auth component reads from its environment (`wasi:cli/environment`), so every
//! host configures it the same way. Unset or empty values take the defaults below; a value that
//! is not understood is an error naming the variable: the native host refuses to start on it
//! (it checks with this crate, the only part of the component's code it links), and the
//! component answers 500 ("service misconfigured") on hosts that do not check first.

use sha2::Digest as _;
use std::time::Duration;

/// The environment variables the component reads; hosts pass exactly these through.
pub use asm_contract::http::SETTINGS as VARS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub session_lifetime: Duration,
    pub cookie_name: String,
    pub cookie_secure: bool,
    /// How new passwords are hashed (`PASSWORD_HASH` and its parameters). A stored hash made
    /// otherwise still verifies, and is replaced at the next successful sign-in.
    pub password_hashing: PasswordHashing,
    pub login_max_attempts: u32,
    pub login_window: Duration,
    /// Failed logins from one client address per window before 429.
    pub login_ip_max_attempts: u32,
    pub login_ip_window: Duration,
    /// Sessions unused for longer than this end (off when None).
    pub session_idle_timeout: Option<Duration>,
    /// Most sessions per user; a new login ends the least recently used (0: no cap).
    pub max_sessions_per_user: u32,
    /// Whether a password change ends the user's other sessions.
    pub password_change_ends_sessions: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins besides the service's own that may send cookie-authenticated unsafe requests,
    /// normalised (`scheme://host:port`).
    pub allowed_origins: Vec<String>,
    /// Where clients reach the service (`https://auth.example.com`), when known, without a
    /// trailing slash.
    pub public_url: Option<String>,
    /// Its origin (`scheme://host:port`): the service's own for CSRF checks, scheme and port included.
    pub public_origin: Option<String>,
    /// Login history older than this is dropped.
    pub login_history_retention: Duration,
    /// At most this many login-history entries are kept per user.
    pub login_history_max: u32,
    /// Whether the service runs in production (`APP_ENV`).
    pub production: bool,
    /// The product name mail is signed with.
    pub service_name: String,
    /// How long a mailed password-reset link works.
    pub reset_token_lifetime: Duration,
    /// How long a mailed verification link works.
    pub verification_token_lifetime: Duration,
    /// Whether a login needs a verified email (403 `email_not_verified` before).
    pub require_verified_email: bool,
    /// Mail requests (reset or verification) per email address per window, from one client
    /// address (or one browser with the account's device cookie).
    pub recovery_max_per_email: u32,
    /// Mail requests for one mailbox per window from all clients without its device cookie.
    pub recovery_max_per_mailbox: u32,
    /// Mail requests per client address per window.
    pub recovery_max_per_address: u32,
    pub recovery_window: Duration,
    /// The issuer authenticator apps show beside the account (default: `SERVICE_NAME`).
    pub totp_issuer: String,
    /// The SHA-256 of each token that opens the operators' routes (`ADMIN_TOKEN`, two at once
    /// while one is rotated); none: the routes do not exist. The tokens themselves are not kept.
    pub admin_token_digests: Vec<[u8; 32]>,
    /// Whether anyone may register (`POST /auth/register`); operators can always create accounts.
    pub registration_enabled: bool,
}

/// How passwords are hashed: Argon2id (the default; OWASP's minimum parameters) or bcrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordHashing {
    /// Memory in KiB, passes over it, lanes.
    Argon2id {
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    },
    Bcrypt {
        cost: u32,
    },
}

impl PasswordHashing {
    /// OWASP's Password Storage Cheat Sheet, first choice: m = 19 MiB, t = 2, p = 1.
    pub const ARGON2ID_DEFAULT: PasswordHashing =
        PasswordHashing::Argon2id { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// The longest password accepted: bcrypt reads only 72 bytes, so it takes no more; Argon2id
    /// reads any length, and 256 bytes bounds the work a request can ask for while leaving room
    /// for any passphrase.
    pub fn max_password_bytes(self) -> usize {
        match self {
            PasswordHashing::Argon2id { .. } => 256,
            PasswordHashing::Bcrypt { .. } => 72,
        }
    }
}

/// A person rarely has more than a handful of browsers and devices; twenty leaves room for API
/// clients and keeps the session list short. The oldest unused session makes room.
pub const DEFAULT_MAX_SESSIONS_PER_USER: u32 = 20;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_lifetime: Duration::from_secs(24 * 3600),
            cookie_name: "session_token".into(),
            cookie_secure: false,
            password_hashing: PasswordHashing::ARGON2ID_DEFAULT,
            login_max_attempts: 5,
            login_window: Duration::from_secs(15 * 60),
            login_ip_max_attempts: 100,
            login_ip_window: Duration::from_secs(15 * 60),
            session_idle_timeout: None,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            password_change_ends_sessions: true,
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            public_url: None,
            public_origin: None,
            login_history_retention: Duration::from_secs(90 * 24 * 3600),
            login_history_max: 1000,
            production: false,
            service_name: "asm".into(),
            reset_token_lifetime: Duration::from_secs(30 * 60),
            verification_token_lifetime: Duration::from_secs(24 * 3600),
            require_verified_email: false,
            recovery_max_per_email: 3,
            recovery_max_per_mailbox: 10,
            recovery_max_per_address: 20,
            recovery_window: Duration::from_secs(3600),
            totp_issuer: "asm".into(),
            admin_token_digests: Vec::new(),
            registration_enabled: true,
        }
    }
}

/// A setting that could not be understood: which variable and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub var: &'static str,
    pub message: String,
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.var, self.message)
    }
}

impl Settings {
    /// Reads the settings through `get`, reporting the first value that is not understood.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingError> {
        let d = Settings::default();
        let env = Env(get);
        let production = match env.text("APP_ENV").as_deref() {
            None | Some("development") | Some("dev") => false,
            Some("production") | Some("prod") => true,
            Some(other) => return Err(fail("APP_ENV", format!("expected development or production, got {other:?}"))),
        };
        let cookie_name = match env.text("SESSION_COOKIE_NAME") {
            Some(n) if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) => {
                return Err(fail("SESSION_COOKIE_NAME", "use letters, digits, '-', '_' or '.'"));
            }
            Some(n) => n,
            None => d.cookie_name,
        };
        let cookie_secure = env.boolean("SESSION_COOKIE_SECURE", production)?;
        if (cookie_name.starts_with("__Host-") || cookie_name.starts_with("__Secure-")) && !cookie_secure {
            return Err(fail(
                "SESSION_COOKIE_NAME",
                "a __Host- or __Secure- cookie must be Secure: set APP_ENV=production or SESSION_COOKIE_SECURE=true",
            ));
        }
        let bcrypt_cost = env.number("BCRYPT_COST", 12)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(fail("BCRYPT_COST", "must be between 4 and 31"));
        }
        let PasswordHashing::Argon2id { memory_kib, iterations, parallelism } = PasswordHashing::ARGON2ID_DEFAULT
        else {
            unreachable!("the default is Argon2id")
        };
        let argon2 = PasswordHashing::Argon2id {
            memory_kib: env.number("ARGON2_MEMORY_KIB", memory_kib)?,
            iterations: env.positive("ARGON2_ITERATIONS", iterations)?,
            parallelism: env.positive("ARGON2_PARALLELISM", parallelism)?,
        };
        if let PasswordHashing::Argon2id { memory_kib, parallelism, .. } = argon2 {
            // The algorithm's floor is 8 KiB per lane; a ceiling keeps one sign-in inside the
            // component's memory (INSTANCE_MEMORY_MB, 64 by default).
            if memory_kib < 8 * parallelism || memory_kib > 1024 * 1024 {
                return Err(fail("ARGON2_MEMORY_KIB", "must be at least 8 per lane and at most 1048576 (1 GiB)"));
            }
            if parallelism > 16 {
                return Err(fail("ARGON2_PARALLELISM", "must be at most 16"));
            }
        }
        let password_hashing = match env.text("PASSWORD_HASH").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("argon2id") => argon2,
            Some("bcrypt") => PasswordHashing::Bcrypt { cost: bcrypt_cost },
            Some(other) => return Err(fail("PASSWORD_HASH", format!("expected argon2id or bcrypt, got {other:?}"))),
        };
        let session_idle_timeout = match env.text("SESSION_IDLE_TIMEOUT").as_deref() {
            None | Some("0") | Some("off") => None,
            Some(_) => Some(env.duration("SESSION_IDLE_TIMEOUT", d.session_lifetime)?),
        };
        let trusted_proxies = env
            .list("TRUSTED_PROXIES")
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| fail("TRUSTED_PROXIES", format!("not an address or CIDR: {p:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let allowed_origins = env
            .list("ALLOWED_ORIGINS")
            .map(|o| match origin(o.trim_end_matches('/')) {
                Some((origin, "")) => Ok(origin),
                _ => Err(fail("ALLOWED_ORIGINS", format!("not an origin (scheme://host[:port]): {o:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (public_url, public_origin) = match env.text("PUBLIC_URL") {
            None => (None, None),
            Some(url) => match origin(&url) {
                Some((origin, path)) if !path.contains(['?', '#']) => {
                    (Some(url.trim_end_matches('/').to_string()), Some(origin))
                }
                _ => return Err(fail("PUBLIC_URL", format!("not a URL (https://host[:port][/path]): {url:?}"))),
            },
        };
        let service_name = env.label("SERVICE_NAME", &[])?.unwrap_or(d.service_name);
        let totp_issuer = env.label("TOTP_ISSUER", &[':'])?.unwrap_or_else(|| service_name.clone());
        let admin_token_digests = env
            .list("ADMIN_TOKEN")
            .map(|token| match token.len() {
                ADMIN_TOKEN_MIN.. => Ok(sha2::Sha256::digest(token.as_bytes()).into()),
                n => Err(fail(
                    "ADMIN_TOKEN",
                    format!(
                        "each token must be at least {ADMIN_TOKEN_MIN} characters (`openssl rand -base64 32`); one is {n}"
                    ),
                )),
            })
            .collect::<Result<Vec<[u8; 32]>, _>>()?;
        Ok(Settings {
            session_lifetime: env.duration("SESSION_LIFETIME", d.session_lifetime)?,
            cookie_name,
            cookie_secure,
            password_hashing,
            login_max_attempts: env.positive("LOGIN_MAX_ATTEMPTS", d.login_max_attempts)?,
            login_window: env.duration("LOGIN_LOCKOUT_WINDOW", d.login_window)?,
            login_ip_max_attempts: env.positive("LOGIN_IP_MAX_ATTEMPTS", d.login_ip_max_attempts)?,
            login_ip_window: env.duration("LOGIN_IP_WINDOW", d.login_ip_window)?,
            session_idle_timeout,
            max_sessions_per_user: env.number("MAX_SESSIONS_PER_USER", d.max_sessions_per_user)?,
            password_change_ends_sessions: env.boolean("PASSWORD_CHANGE_ENDS_SESSIONS", true)?,
            trusted_proxies,
            allowed_origins,
            public_url,
            public_origin,
            login_history_retention: env.duration("LOGIN_HISTORY_RETENTION", d.login_history_retention)?,
            login_history_max: env.positive("LOGIN_HISTORY_MAX", d.login_history_max)?,
            production,
            service_name,
            reset_token_lifetime: env.duration("RESET_TOKEN_LIFETIME", d.reset_token_lifetime)?,
            verification_token_lifetime: env.duration("VERIFICATION_TOKEN_LIFETIME", d.verification_token_lifetime)?,
            require_verified_email: env.boolean("REQUIRE_VERIFIED_EMAIL", d.require_verified_email)?,
            recovery_max_per_email: env.number("RECOVERY_MAX_PER_EMAIL", d.recovery_max_per_email)?,
            recovery_max_per_mailbox: env.number("RECOVERY_MAX_PER_MAILBOX", d.recovery_max_per_mailbox)?,
            recovery_max_per_address: env.number("RECOVERY_MAX_PER_ADDRESS", d.recovery_max_per_address)?,
            recovery_window: env.duration("RECOVERY_WINDOW", d.recovery_window)?,
            totp_issuer,
            admin_token_digests,
            registration_enabled: env.boolean("REGISTRATION_ENABLED", d.registration_enabled)?,
        })
    }

    pub fn from_env() -> Result<Settings, SettingError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }
}

/// The shortest operator token accepted: guessing one must be hopeless.
pub const ADMIN_TOKEN_MIN: usize = 32;

fn fail(var: &'static str, message: impl Into<String>) -> SettingError {
    SettingError { var, message: message.into() }
}

/// The variables, read one kind at a time; unset or blank values take the default.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The value, trimmed; none when unset or blank.
    fn text(&self, var: &str) -> Option<String> {
        (self.0)(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn duration(&self, var: &'static str, default: Duration) -> Result<Duration, SettingError> {
        match self.text(var) {
            None => Ok(default),
            Some(v) => match humantime::parse_duration(&v) {
                Ok(d) if d >= Duration::from_secs(1) => Ok(d),
                Ok(_) => Err(fail(var, "must be at least 1s")),
                Err(e) => Err(fail(var, format!("{e} (e.g. 90s, 15m, 24h)"))),
            },
        }
    }

    /// A comma- or space-separated list; empty when unset.
    fn list(&self, var: &str) -> impl Iterator<Item = String> {
        let raw = self.text(var).unwrap_or_default();
        raw.split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn number(&self, var: &'static str, default: u32) -> Result<u32, SettingError> {
        match self.text(var) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| fail(var, format!("not a number: {v:?}"))),
        }
    }

    /// A number of at least 1.
    fn positive(&self, var: &'static str, default: u32) -> Result<u32, SettingError> {
        match self.number(var, default)? {
            0 => Err(fail(var, "must be at least 1")),
            n => Ok(n),
        }
    }

    fn boolean(&self, var: &'static str, default: bool) -> Result<bool, SettingError> {
        match self.text(var).as_deref() {
            None => Ok(default),
            Some("1") | Some("true") | Some("yes") | Some("on") => Ok(true),
            Some("0") | Some("false") | Some("no") | Some("off") => Ok(false),
            Some(v) => Err(fail(var, format!("expected true or false, got {v:?}"))),
        }
    }

    /// A name people read (in mail, in authenticator apps): at most 64 characters, no control
    /// characters, none of `forbidden`.
    fn label(&self, var: &'static str, forbidden: &[char]) -> Result<Option<String>, SettingError> {
        match self.text(var) {
            Some(v) if v.len() > 64 || v.chars().any(|c| c.is_control() || forbidden.contains(&c)) => {
                let extra = if forbidden.is_empty() { String::new() } else { format!(", none of {forbidden:?}") };
                Err(fail(var, format!("at most 64 characters, no control characters{extra}")))
            }
            v => Ok(v),
        }
    }
}

/// The origin of an http(s) URL as `scheme://host:port` (scheme and host lower-cased, the
/// default port written out, so equal origins compare equal), and the rest of the URL after it.
pub fn origin(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse::<u16>().ok()?),
        _ => (authority, default_port),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let bracketed = |h: &str| {
        h.strip_prefix('[').and_then(|h| h.strip_suffix(']')).is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    };
    if host.is_empty() || !(host.chars().all(plain) || bracketed(host)) {
        return None;
    }
    Some((format!("{scheme}://{}:{port}", host.to_ascii_lowercase()), tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_old_service() {
        let s = from(&[]).unwrap();
        assert_eq!(s.session_lifetime, Duration::from_secs(86400));
        assert_eq!(s.cookie_name, "session_token");
        assert!(!s.cookie_secure);
        assert_eq!(s.password_hashing, PasswordHashing::ARGON2ID_DEFAULT);
        assert_eq!((s.login_max_attempts, s.login_window), (5, Duration::from_secs(900)));
    }

    #[test]
    fn the_password_hash_is_argon2id_or_bcrypt_with_checked_parameters() {
        assert_eq!(
            from(&[("ARGON2_MEMORY_KIB", "65536"), ("ARGON2_ITERATIONS", "3")]).unwrap().password_hashing,
            PasswordHashing::Argon2id { memory_kib: 65536, iterations: 3, parallelism: 1 }
        );
        let bcrypt = from(&[("PASSWORD_HASH", "bcrypt"), ("BCRYPT_COST", "10")]).unwrap().password_hashing;
        assert_eq!(bcrypt, PasswordHashing::Bcrypt { cost: 10 });
        assert_eq!(bcrypt.max_password_bytes(), 72);
        assert_eq!(PasswordHashing::ARGON2ID_DEFAULT.max_password_bytes(), 256);
        assert_eq!(from(&[("PASSWORD_HASH", "scrypt")]).unwrap_err().var, "PASSWORD_HASH");
        assert_eq!(from(&[("ARGON2_MEMORY_KIB", "4")]).unwrap_err().var, "ARGON2_MEMORY_KIB");
        assert_eq!(from(&[("ARGON2_ITERATIONS", "0")]).unwrap_err().var, "ARGON2_ITERATIONS");
        assert_eq!(from(&[("ARGON2_PARALLELISM", "64")]).unwrap_err().var, "ARGON2_PARALLELISM");
        // BCRYPT_COST is checked whichever is chosen, so switching to bcrypt never starts failing.
        assert_eq!(from(&[("BCRYPT_COST", "99")]).unwrap_err().var, "BCRYPT_COST");
    }

    #[test]
    fn production_turns_secure_cookies_on_unless_overridden() {
        assert!(from(&[("APP_ENV", "production")]).unwrap().cookie_secure);
        assert!(!from(&[("APP_ENV", "production"), ("SESSION_COOKIE_SECURE", "false")]).unwrap().cookie_secure);
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(from(&[("BCRYPT_COST", "3")]).unwrap_err().var, "BCRYPT_COST");
        assert_eq!(from(&[("SESSION_LIFETIME", "soon")]).unwrap_err().var, "SESSION_LIFETIME");
        assert_eq!(from(&[("APP_ENV", "staging")]).unwrap_err().var, "APP_ENV");
        assert_eq!(from(&[("SESSION_COOKIE_NAME", "a b")]).unwrap_err().var, "SESSION_COOKIE_NAME");
        assert_eq!(from(&[("LOGIN_MAX_ATTEMPTS", "0")]).unwrap_err().var, "LOGIN_MAX_ATTEMPTS");
        assert_eq!(from(&[("TRUSTED_PROXIES", "10.0.0.0/8, nope")]).unwrap_err().var, "TRUSTED_PROXIES");
        assert_eq!(from(&[("ALLOWED_ORIGINS", "example.com")]).unwrap_err().var, "ALLOWED_ORIGINS");
        assert_eq!(from(&[("SESSION_IDLE_TIMEOUT", "soon")]).unwrap_err().var, "SESSION_IDLE_TIMEOUT");
        assert_eq!(from(&[("PUBLIC_URL", "auth.example.com")]).unwrap_err().var, "PUBLIC_URL");
        assert_eq!(from(&[("LOGIN_HISTORY_MAX", "0")]).unwrap_err().var, "LOGIN_HISTORY_MAX");
        let host_cookie = from(&[("SESSION_COOKIE_NAME", "__Host-session")]).unwrap_err();
        assert_eq!(host_cookie.var, "SESSION_COOKIE_NAME");
        assert!(host_cookie.message.contains("Secure"), "{host_cookie}");
        assert!(from(&[("SESSION_COOKIE_NAME", "__Host-session"), ("APP_ENV", "production")]).is_ok());
    }

    #[test]
    fn lists_and_optional_settings() {
        let s = from(&[
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ::1"),
            ("ALLOWED_ORIGINS", "https://App.example.com/"),
            ("SESSION_IDLE_TIMEOUT", "30m"),
        ])
        .unwrap();
        assert_eq!(s.trusted_proxies.len(), 3);
        assert!(s.trusted_proxies[1].contains(&"192.168.1.7".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(s.allowed_origins, vec!["https://app.example.com:443"]);
        assert_eq!(s.session_idle_timeout, Some(Duration::from_secs(1800)));
        let d = from(&[("SESSION_IDLE_TIMEOUT", "off")]).unwrap();
        assert_eq!(
            (d.session_idle_timeout, d.max_sessions_per_user, d.password_change_ends_sessions),
            (None, 20, true)
        );
    }

    #[test]
    fn the_public_url_gives_the_services_origin() {
        let s = from(&[("PUBLIC_URL", "HTTPS://Auth.Example.com/base/")]).unwrap();
        assert_eq!(s.public_url.as_deref(), Some("HTTPS://Auth.Example.com/base"));
        assert_eq!(s.public_origin.as_deref(), Some("https://auth.example.com:443"));
        let s = from(&[("PUBLIC_URL", "http://localhost:3000")]).unwrap();
        assert_eq!(s.public_origin.as_deref(), Some("http://localhost:3000"));
    }

    #[test]
    fn operator_tokens_are_kept_as_digests_and_must_be_long() {
        let a = "a".repeat(32);
        let b = "b".repeat(40);
        let s = from(&[("ADMIN_TOKEN", &format!("{a}, {b}"))]).unwrap();
        assert_eq!(s.admin_token_digests.len(), 2, "two at once, for a rotation");
        assert!(!format!("{s:?}").contains(&a), "Debug shows no token");
        assert_eq!(from(&[("ADMIN_TOKEN", "too-short")]).unwrap_err().var, "ADMIN_TOKEN");
        assert!(from(&[]).unwrap().admin_token_digests.is_empty());
        assert!(!from(&[("REGISTRATION_ENABLED", "false")]).unwrap().registration_enabled);
    }

    #[test]
    fn durations_accept_human_units() {
        let s = from(&[("SESSION_LIFETIME", "2h 30m"), ("LOGIN_LOCKOUT_WINDOW", "90s")]).unwrap();
        assert_eq!(s.session_lifetime, Duration::from_secs(9000));
        assert_eq!(s.login_window, Duration::from_secs(90));
    }
}
