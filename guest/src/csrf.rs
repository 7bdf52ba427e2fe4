//! Cross-site request refusal for cookie-authenticated requests. Browsers attach cookies to
//! cross-site requests; they also say where a request comes from (`Origin`, or failing that
//! `Sec-Fetch-Site`), which a page on another site cannot forge.

use crate::envelope::ApiError;
use crate::http::Request;

/// Refuses an unsafe request whose `Origin` is neither the service's own (the `Host` it was
/// sent to) nor an allowed origin, or, without `Origin`, whose `Sec-Fetch-Site` is `cross-site`.
pub fn check(req: &Request, allowed_origins: &[String]) -> Result<(), ApiError> {
    if !matches!(req.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
        return Ok(());
    }
    if let Some(origin) = req.header_str("origin") {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if allowed_origins.contains(&origin) {
            return Ok(());
        }
        let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        let host = req.header_str("host").map(|h| h.trim().to_ascii_lowercase());
        if authority.is_some() && authority == host.as_deref() {
            return Ok(());
        }
        return Err(refused());
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

    #[test]
    fn same_site_and_allowed_origins_pass() {
        assert!(check(&post(&[("origin", "https://auth.example.com")]), &[]).is_ok());
        assert!(check(&post(&[("origin", "http://Auth.Example.com/")]), &[]).is_ok());
        assert!(check(&post(&[("origin", "https://app.example.com")]), &["https://app.example.com".into()]).is_ok());
        assert!(check(&post(&[("sec-fetch-site", "same-origin")]), &[]).is_ok());
        assert!(check(&post(&[]), &[]).is_ok(), "non-browser clients send neither header");
    }

    #[test]
    fn cross_site_is_refused() {
        assert!(check(&post(&[("origin", "https://evil.example")]), &[]).is_err());
        assert!(check(&post(&[("origin", "null")]), &[]).is_err());
        assert!(check(&post(&[("origin", "https://auth.example.com.evil.example")]), &[]).is_err());
        assert!(check(&post(&[("sec-fetch-site", "cross-site")]), &[]).is_err());
    }

    #[test]
    fn safe_methods_are_not_checked() {
        let get = Request::new("GET", "/auth/user/me").header("origin", "https://evil.example");
        assert!(check(&get, &[]).is_ok());
    }
}
