//! A readable device from a User-Agent string, parsed once at login and kept with the session.

use asm_contract::Device;

const UNKNOWN: &str = "UNKNOWN";
/// User-Agents longer than this are cut before parsing and storing.
pub const MAX_USER_AGENT: usize = 512;

pub fn parse(user_agent: &str) -> Device {
    let ua = truncate(user_agent.trim(), MAX_USER_AGENT);
    let parsed = if ua.is_empty() { None } else { woothee::parser::Parser::new().parse(ua) };
    let Some(r) = parsed else {
        return Device {
            browser: "Unknown".into(),
            browser_version: String::new(),
            os: "Unknown".into(),
            os_version: String::new(),
            category: "unknown".into(),
            summary: "Unknown device".into(),
        };
    };
    let known = |s: &str| if s == UNKNOWN || s.is_empty() { None } else { Some(s.to_string()) };
    let browser = known(r.name);
    let version = known(r.version);
    let os = known(r.os);
    let os_version = known(&r.os_version);
    let major = version.as_deref().map(|v| v.split('.').next().unwrap_or(v).to_string());
    let summary = match (&browser, &major, &os) {
        (Some(b), Some(v), Some(o)) => format!("{b} {v} on {o}"),
        (Some(b), None, Some(o)) => format!("{b} on {o}"),
        (Some(b), Some(v), None) => format!("{b} {v}"),
        (Some(b), None, None) => b.clone(),
        (None, _, Some(o)) => format!("Unknown browser on {o}"),
        (None, _, None) => "Unknown device".into(),
    };
    Device {
        browser: browser.unwrap_or_else(|| "Unknown".into()),
        browser_version: version.unwrap_or_default(),
        os: os.unwrap_or_else(|| "Unknown".into()),
        os_version: os_version.unwrap_or_default(),
        category: known(r.category).unwrap_or_else(|| "unknown".into()),
        summary,
    }
}

/// Cuts a string to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const FIREFOX_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

    #[test]
    fn desktop_browsers_are_summarised_with_major_version() {
        let d = parse(CHROME_MAC);
        assert_eq!(d.summary, "Chrome 120 on Mac OSX");
        assert_eq!((d.browser.as_str(), d.browser_version.as_str()), ("Chrome", "120.0.0.0"));
        assert_eq!(d.category, "pc");
        assert_eq!(parse(FIREFOX_WIN).summary, "Firefox 121 on Windows 10");
    }

    #[test]
    fn phones_are_smartphones() {
        let d = parse(SAFARI_IPHONE);
        assert_eq!(d.category, "smartphone");
        assert_eq!(d.os, "iPhone");
        assert!(d.summary.starts_with("Safari 17 on iPhone"), "{}", d.summary);
    }

    #[test]
    fn tools_and_garbage_do_not_break_it() {
        assert_eq!(parse("").summary, "Unknown device");
        assert_eq!(parse("\u{0}\u{ffff}").summary, "Unknown device");
        let curl = parse("curl/8.5.0");
        assert!(!curl.summary.is_empty());
        assert!(parse(&"Mozilla/5.0 ".repeat(10_000)).summary.len() < 100);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
