//! Settings the component reads from its environment (`wasi:cli/environment`), so every host
//! configures it the same way. Unset or empty values take the defaults below; a value that is
//! not understood is an error naming the variable: the native host refuses to start on it, and
//! the component answers 500 ("service misconfigured") on hosts that do not check first.

use std::time::Duration;

/// The environment variables the component reads; hosts pass exactly these through.
pub const VARS: &[&str] = &[
    "APP_ENV",
    "SESSION_LIFETIME",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "BCRYPT_COST",
    "LOGIN_MAX_ATTEMPTS",
    "LOGIN_LOCKOUT_WINDOW",
    "LOGIN_IP_MAX_ATTEMPTS",
    "LOGIN_IP_WINDOW",
    "SESSION_IDLE_TIMEOUT",
    "MAX_SESSIONS_PER_USER",
    "PASSWORD_CHANGE_ENDS_SESSIONS",
    "TRUSTED_PROXIES",
    "ALLOWED_ORIGINS",
    "PUBLIC_URL",
    "LOGIN_HISTORY_RETENTION",
    "LOGIN_HISTORY_MAX",
    "SERVICE_NAME",
    "RESET_TOKEN_LIFETIME",
    "VERIFICATION_TOKEN_LIFETIME",
    "REQUIRE_VERIFIED_EMAIL",
    "RECOVERY_MAX_PER_EMAIL",
    "RECOVERY_MAX_PER_ADDRESS",
    "RECOVERY_WINDOW",
    "TOTP_ISSUER",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub session_lifetime: Duration,
    pub cookie_name: String,
    pub cookie_secure: bool,
    pub bcrypt_cost: u32,
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
    /// Mail requests (reset or verification) per email address per window.
    pub recovery_max_per_email: u32,
    /// Mail requests per client address per window.
    pub recovery_max_per_address: u32,
    pub recovery_window: Duration,
    /// The issuer authenticator apps show beside the account (default: `SERVICE_NAME`).
    pub totp_issuer: String,
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
            bcrypt_cost: 12,
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
            recovery_max_per_address: 20,
            recovery_window: Duration::from_secs(3600),
            totp_issuer: "asm".into(),
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
        let production = match get("APP_ENV").as_deref().map(str::trim) {
            None | Some("") | Some("development") | Some("dev") => false,
            Some("production") | Some("prod") => true,
            Some(other) => {
                return Err(SettingError {
                    var: "APP_ENV",
                    message: format!("expected development or production, got {other:?}"),
                });
            }
        };
        let session_lifetime = duration(&get, "SESSION_LIFETIME", d.session_lifetime)?;
        let cookie_name = match get("SESSION_COOKIE_NAME") {
            Some(n) if !n.trim().is_empty() => {
                let n = n.trim().to_string();
                if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                    return Err(SettingError {
                        var: "SESSION_COOKIE_NAME",
                        message: "use letters, digits, '-', '_' or '.'".into(),
                    });
                }
                n
            }
            _ => d.cookie_name,
        };
        let cookie_secure = boolean(&get, "SESSION_COOKIE_SECURE", production)?;
        if (cookie_name.starts_with("__Host-") || cookie_name.starts_with("__Secure-")) && !cookie_secure {
            return Err(SettingError {
                var: "SESSION_COOKIE_NAME",
                message:
                    "a __Host- or __Secure- cookie must be Secure: set APP_ENV=production or SESSION_COOKIE_SECURE=true"
                        .into(),
            });
        }
        let bcrypt_cost = number(&get, "BCRYPT_COST", d.bcrypt_cost)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(SettingError { var: "BCRYPT_COST", message: "must be between 4 and 31".into() });
        }
        let login_max_attempts = number(&get, "LOGIN_MAX_ATTEMPTS", d.login_max_attempts)?;
        if login_max_attempts == 0 {
            return Err(SettingError { var: "LOGIN_MAX_ATTEMPTS", message: "must be at least 1".into() });
        }
        let login_window = duration(&get, "LOGIN_LOCKOUT_WINDOW", d.login_window)?;
        let login_ip_max_attempts = number(&get, "LOGIN_IP_MAX_ATTEMPTS", d.login_ip_max_attempts)?;
        if login_ip_max_attempts == 0 {
            return Err(SettingError { var: "LOGIN_IP_MAX_ATTEMPTS", message: "must be at least 1".into() });
        }
        let login_ip_window = duration(&get, "LOGIN_IP_WINDOW", d.login_ip_window)?;
        let session_idle_timeout = match get("SESSION_IDLE_TIMEOUT").as_deref().map(str::trim) {
            None | Some("") | Some("0") | Some("off") => None,
            Some(_) => Some(duration(&get, "SESSION_IDLE_TIMEOUT", d.session_lifetime)?),
        };
        let max_sessions_per_user = number(&get, "MAX_SESSIONS_PER_USER", d.max_sessions_per_user)?;
        let password_change_ends_sessions = boolean(&get, "PASSWORD_CHANGE_ENDS_SESSIONS", true)?;
        let trusted_proxies = list(&get, "TRUSTED_PROXIES")
            .map(|p| {
                p.parse::<ipnet::IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(
                    |_| SettingError { var: "TRUSTED_PROXIES", message: format!("not an address or CIDR: {p:?}") },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let allowed_origins = list(&get, "ALLOWED_ORIGINS")
            .map(|o| match crate::csrf::origin(o.trim_end_matches('/')) {
                Some((origin, "")) => Ok(origin),
                _ => Err(SettingError {
                    var: "ALLOWED_ORIGINS",
                    message: format!("not an origin (scheme://host[:port]): {o:?}"),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (public_url, public_origin) = match get("PUBLIC_URL").as_deref().map(str::trim) {
            None | Some("") => (None, None),
            Some(url) => match crate::csrf::origin(url) {
                Some((origin, path)) if !path.contains(['?', '#']) => {
                    (Some(url.trim_end_matches('/').to_string()), Some(origin))
                }
                _ => {
                    return Err(SettingError {
                        var: "PUBLIC_URL",
                        message: format!("not a URL (https://host[:port][/path]): {url:?}"),
                    });
                }
            },
        };
        let login_history_retention = duration(&get, "LOGIN_HISTORY_RETENTION", d.login_history_retention)?;
        let login_history_max = number(&get, "LOGIN_HISTORY_MAX", d.login_history_max)?;
        if login_history_max == 0 {
            return Err(SettingError { var: "LOGIN_HISTORY_MAX", message: "must be at least 1".into() });
        }
        let service_name = match get("SERVICE_NAME").map(|v| v.trim().to_string()) {
            None => d.service_name,
            Some(v) if v.is_empty() => d.service_name,
            Some(v) if v.len() <= 64 && !v.chars().any(char::is_control) => v,
            Some(_) => {
                return Err(SettingError {
                    var: "SERVICE_NAME",
                    message: "at most 64 characters, no control characters".into(),
                });
            }
        };
        let reset_token_lifetime = duration(&get, "RESET_TOKEN_LIFETIME", d.reset_token_lifetime)?;
        let verification_token_lifetime = duration(&get, "VERIFICATION_TOKEN_LIFETIME", d.verification_token_lifetime)?;
        let require_verified_email = boolean(&get, "REQUIRE_VERIFIED_EMAIL", d.require_verified_email)?;
        let recovery_max_per_email = number(&get, "RECOVERY_MAX_PER_EMAIL", d.recovery_max_per_email)?;
        let recovery_max_per_address = number(&get, "RECOVERY_MAX_PER_ADDRESS", d.recovery_max_per_address)?;
        let recovery_window = duration(&get, "RECOVERY_WINDOW", d.recovery_window)?;
        let totp_issuer = match get("TOTP_ISSUER").map(|v| v.trim().to_string()) {
            None => service_name.clone(),
            Some(v) if v.is_empty() => service_name.clone(),
            Some(v) if v.len() <= 64 && !v.contains(':') && !v.chars().any(char::is_control) => v,
            Some(_) => {
                return Err(SettingError { var: "TOTP_ISSUER", message: "at most 64 characters, no colon".into() });
            }
        };
        Ok(Settings {
            production,
            service_name,
            reset_token_lifetime,
            verification_token_lifetime,
            require_verified_email,
            recovery_max_per_email,
            recovery_max_per_address,
            recovery_window,
            totp_issuer,
            session_lifetime,
            cookie_name,
            cookie_secure,
            bcrypt_cost,
            login_max_attempts,
            login_window,
            login_ip_max_attempts,
            login_ip_window,
            session_idle_timeout,
            max_sessions_per_user,
            password_change_ends_sessions,
            trusted_proxies,
            allowed_origins,
            public_url,
            public_origin,
            login_history_retention,
            login_history_max,
        })
    }

    /// Where a mailed link for `page` (`reset`, `verify`) points, with the token.
    pub fn account_link(&self, page: &str, token: &str) -> Option<String> {
        self.public_url.as_ref().map(|base| format!("{base}/account/{page}?token={token}"))
    }

    pub fn from_env() -> Result<Settings, SettingError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }
}

fn duration(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, SettingError> {
    match get(var) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => match humantime::parse_duration(v.trim()) {
            Ok(d) if d >= Duration::from_secs(1) => Ok(d),
            Ok(_) => Err(SettingError { var, message: "must be at least 1s".into() }),
            Err(e) => Err(SettingError { var, message: format!("{e} (e.g. 90s, 15m, 24h)") }),
        },
    }
}

/// A comma- or space-separated list; empty when unset.
fn list(get: &impl Fn(&str) -> Option<String>, var: &'static str) -> impl Iterator<Item = String> {
    let raw = get(var).unwrap_or_default();
    raw.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>().into_iter()
}

fn number(get: &impl Fn(&str) -> Option<String>, var: &'static str, default: u32) -> Result<u32, SettingError> {
    match get(var) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| SettingError { var, message: format!("not a number: {v:?}") }),
    }
}

fn boolean(get: &impl Fn(&str) -> Option<String>, var: &'static str, default: bool) -> Result<bool, SettingError> {
    match get(var).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("1") | Some("true") | Some("yes") | Some("on") => Ok(true),
        Some("0") | Some("false") | Some("no") | Some("off") => Ok(false),
        Some(v) => Err(SettingError { var, message: format!("expected true or false, got {v:?}") }),
    }
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
        assert_eq!(s.bcrypt_cost, 12);
        assert_eq!((s.login_max_attempts, s.login_window), (5, Duration::from_secs(900)));
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
    fn durations_accept_human_units() {
        let s = from(&[("SESSION_LIFETIME", "2h 30m"), ("LOGIN_LOCKOUT_WINDOW", "90s")]).unwrap();
        assert_eq!(s.session_lifetime, Duration::from_secs(9000));
        assert_eq!(s.login_window, Duration::from_secs(90));
    }
}
