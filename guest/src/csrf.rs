//! Cross-site request refusal for cookie-authenticated requests. Browsers attach cookies to
//! cross-site requests; they also say where a request comes from (`Origin`, or failing that
//! `Sec-Fetch-Site`), which a page on another site cannot forge.

use crate::config::Settings;
use crate::envelope::ApiError;
use crate::http::Request;
pub use asm_settings::origin;

/// Refuses an unsafe request whose `Origin` is neither the service's own nor an allowed origin,
/// or, without `Origin`, whose `Sec-Fetch-Site` is `cross-site`. The service's own origin is
/// that of `PUBLIC_URL` (scheme, host and port) when it is set; otherwise the `Host` the request
/// was sent to, with the port the Origin's scheme implies.
pub fn check(req: &Request, settings: &Settings) -> Result<(), ApiError> {
    if !matches!(req.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
        return Ok(());
    }
    if let Some(header) = req.header_str("origin") {
        let Some((origin, "")) = origin(header.trim().trim_end_matches('/')) else { return Err(refused()) };
        if settings.allowed_origins.contains(&origin) {
            return Ok(());
        }
        let own = match &settings.public_origin {
            Some(own) => own.clone(),
            None => {
                let scheme = &origin[..origin.find("://").unwrap_or(0)];
                let host = req.header_str("host").unwrap_or("");
                match self::origin(&format!("{scheme}://{}", host.trim())) {
                    Some((own, "")) => own,
                    _ => return Err(refused()),
                }
            }
        };
        return if origin == own { Ok(()) } else { Err(refused()) };
    }
    match req.header_str("sec-fetch-site").map(str::trim) {
        Some(site) if site.eq_ignore_ascii_case("cross-site") => Err(refused()),
        _ => Ok(()),
    }
}

fn refused() -> ApiError {
    ApiError::Forbidden("cross-site request refused: send it from this site or with a Bearer token".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(headers: &[(&str, &str)]) -> Request {
        headers
            .iter()
            .fold(Request::new("POST", "/auth/logout").header("host", "auth.example.com"), |r, (k, v)| r.header(k, v))
    }

    fn settings(allowed: &[&str], public: Option<&str>) -> Settings {
        Settings {
            allowed_origins: allowed.iter().map(|o| origin(o).unwrap().0).collect(),
            public_origin: public.map(|p| origin(p).unwrap().0),
            ..Settings::default()
        }
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(origin("HTTPS://Auth.Example.com"), Some(("https://auth.example.com:443".into(), "")));
        assert_eq!(origin("http://localhost:3000/x?y"), Some(("http://localhost:3000".into(), "/x?y")));
        assert_eq!(origin("http://[::1]:8080"), Some(("http://[::1]:8080".into(), "")));
        for bad in ["null", "ftp://a.b", "https://", "https://a b", "https://u@host", "https://h:99999", "https://h:x"]
        {
            assert_eq!(origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_site_and_allowed_origins_pass() {
        let none = settings(&[], None);
        assert!(check(&post(&[("origin", "https://auth.example.com")]), &none).is_ok());
        assert!(check(&post(&[("origin", "http://Auth.Example.com/")]), &none).is_ok());
        let allowed = settings(&["https://app.example.com"], None);
        assert!(check(&post(&[("origin", "https://app.example.com:443")]), &allowed).is_ok());
        assert!(check(&post(&[("sec-fetch-site", "same-origin")]), &none).is_ok());
        assert!(check(&post(&[]), &none).is_ok(), "non-browser clients send neither header");
    }

    #[test]
    fn cross_site_is_refused() {
        let none = settings(&[], None);
        assert!(check(&post(&[("origin", "https://evil.example")]), &none).is_err());
        assert!(check(&post(&[("origin", "null")]), &none).is_err());
        assert!(check(&post(&[("origin", "https://auth.example.com.evil.example")]), &none).is_err());
        assert!(check(&post(&[("origin", "https://auth.example.com:8443")]), &none).is_err(), "another port");
        assert!(check(&post(&[("sec-fetch-site", "cross-site")]), &none).is_err());
    }

    #[test]
    fn with_a_public_url_the_scheme_and_port_must_match_too() {
        let public = settings(&[], Some("https://auth.example.com"));
        assert!(check(&post(&[("origin", "https://auth.example.com")]), &public).is_ok());
        assert!(check(&post(&[("origin", "http://auth.example.com")]), &public).is_err(), "plain http");
        assert!(check(&post(&[("origin", "https://auth.example.com:444")]), &public).is_err());
        let elsewhere = Request::new("POST", "/auth/logout")
            .header("host", "evil.example")
            .header("origin", "https://evil.example");
        assert!(check(&elsewhere, &public).is_err(), "the Host header no longer decides");
    }

    #[test]
    fn safe_methods_are_not_checked() {
        let get = Request::new("GET", "/auth/user/me").header("origin", "https://evil.example");
        assert!(check(&get, &Settings::default()).is_ok());
    }
}
