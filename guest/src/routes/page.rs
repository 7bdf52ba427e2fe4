//! The account page: one HTML document, its stylesheet and its script (`guest/page/`), embedded
//! at build time. The page holds no user data; its script reaches the account only through the
//! JSON routes, with the session cookie, under the same CSRF rules as any other client.
//!
//! Every page response carries a Content-Security-Policy that allows this site's own script and
//! style and nothing inline, no plugins, no framing, no forms posted elsewhere, and no HTML
//! written from strings (Trusted Types with no policy at all): the QR code of a TOTP enrolment is
//! shown as an image from a `blob:` URL, where an SVG cannot run anything.
//!
//! The document comes in two variants, both made by the compiler: as written, with
//! `data-registration="open"` on its root, and with `"shut"` there for a service that takes no
//! registrations (`REGISTRATION_ENABLED=false`), whose script then offers no registration form.
//! Each has its own ETag, so a copy cached under one setting is not taken for the other.

use super::Ctx;
use crate::config::Settings;
use crate::envelope::ApiError;
use crate::http::Response;

/// One embedded file.
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
    etag: [u8; 34],
}

impl Asset {
    const fn new(content_type: &'static str, body: &'static str) -> Asset {
        Asset { content_type, body, etag: etag_of(body) }
    }

    /// A strong validator of the content: 32 hex digits in quotes.
    pub fn etag(&self) -> &str {
        std::str::from_utf8(&self.etag).expect("hex digits and quotes")
    }
}

/// FNV-1a (128 bits) of the content, in hex and quoted, computed by the compiler: an instance
/// lives for one request, so a hash made at run time would be made on every request. The tag
/// only has to change when the file does; it guards nothing, so it need not be a cryptographic
/// hash.
const fn etag_of(body: &str) -> [u8; 34] {
    let bytes = body.as_bytes();
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u128;
        hash = hash.wrapping_mul(0x0000000001000000000000000000013b);
        i += 1;
    }
    let mut tag = [b'"'; 34];
    let mut digit = 0;
    while digit < 32 {
        tag[1 + digit] = b"0123456789abcdef"[(hash >> (124 - 4 * digit)) as usize & 0xf];
        digit += 1;
    }
    tag
}

/// The document as written: registration open.
const DOCUMENT: &str = include_str!("../../page/account.html");
const OPEN: &[u8] = b"data-registration=\"open\"";
const SHUT: &[u8] = b"data-registration=\"shut\"";

/// The document with its one `OPEN` marker turned into `SHUT`, of the same length; the build
/// fails when the document has no marker or more than one.
const fn registration_shut() -> [u8; DOCUMENT.len()] {
    let from = DOCUMENT.as_bytes();
    let mut out = [0u8; DOCUMENT.len()];
    let mut markers = 0;
    let mut i = 0;
    while i < from.len() {
        let mut at_marker = i + OPEN.len() <= from.len();
        let mut j = 0;
        while at_marker && j < OPEN.len() {
            at_marker = from[i + j] == OPEN[j];
            j += 1;
        }
        if at_marker {
            let mut k = 0;
            while k < SHUT.len() {
                out[i + k] = SHUT[k];
                k += 1;
            }
            markers += 1;
            i += OPEN.len();
        } else {
            out[i] = from[i];
            i += 1;
        }
    }
    assert!(markers == 1, "account.html must carry data-registration=\"open\" exactly once");
    out
}

const SHUT_DOCUMENT: &[u8; DOCUMENT.len()] = &registration_shut();

/// `/account`, `/account/reset`, `/account/verify` and `/account/email`: one document; its
/// script picks the view from the path. [`document`] picks the variant.
pub static HTML: Asset = Asset::new("text/html; charset=utf-8", DOCUMENT);
/// The document of a service that takes no registrations.
pub static HTML_SHUT: Asset = Asset::new(
    "text/html; charset=utf-8",
    // One ASCII run swapped for another of the same length: still UTF-8, checked all the same.
    match std::str::from_utf8(SHUT_DOCUMENT) {
        Ok(text) => text,
        Err(_) => panic!("the shut document is not UTF-8"),
    },
);
pub static CSS: Asset = Asset::new("text/css; charset=utf-8", include_str!("../../page/account.css"));
pub static JS: Asset = Asset::new("text/javascript; charset=utf-8", include_str!("../../page/account.js"));

/// The document for these settings.
pub fn document(settings: &Settings) -> &'static Asset {
    if settings.registration_enabled { &HTML } else { &HTML_SHUT }
}

pub const CSP: &str = "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; \
                       form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
                       trusted-types 'none'";

/// The asset, or 304 when the client's copy is current. The script and stylesheet are revalidated
/// on every use (`no-cache`), so a new build is picked up at once; the page is not kept at all.
pub fn serve(cx: &Ctx<'_>, asset: &'static Asset) -> Result<Response, ApiError> {
    let etag = asset.etag();
    let fresh = cx
        .req
        .header_values("if-none-match")
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == etag || v == "*");
    let (status, body) = if fresh { (304, Vec::new()) } else { (200, asset.body.as_bytes().to_vec()) };
    let html = asset.content_type.starts_with("text/html");
    // The page's address may carry a mailed token: no cache keeps it (nor the back-forward cache
    // the page). Its files hold nothing personal and are revalidated on each use.
    let cache = if html { "no-store" } else { "no-cache" };
    let mut headers = vec![
        ("content-type".to_string(), asset.content_type.to_string()),
        ("cache-control".into(), cache.into()),
        ("etag".into(), etag.to_string()),
        ("x-content-type-options".into(), "nosniff".into()),
        // Links in the mail carry a token in the query: no page passes its address on.
        ("referrer-policy".into(), "no-referrer".into()),
        ("cross-origin-resource-policy".into(), "same-origin".into()),
    ];
    if html {
        headers.extend([
            ("content-security-policy".to_string(), CSP.to_string()),
            ("x-frame-options".into(), "DENY".into()),
            ("cross-origin-opener-policy".into(), "same-origin".into()),
        ]);
    }
    Ok(Response { status, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both variants of the document.
    const DOCUMENTS: [&Asset; 2] = [&HTML, &HTML_SHUT];

    /// Nothing in the document runs or styles inline, so the policy can forbid both.
    #[test]
    fn the_document_has_no_inline_script_or_style_and_nothing_from_elsewhere() {
        for document in DOCUMENTS {
            no_inline_script_or_style(document.body);
        }
    }

    fn no_inline_script_or_style(html: &str) {
        let html = html.to_ascii_lowercase();
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(tag.contains(" src=\"/account/assets/"), "inline or foreign script: {tag}");
        }
        assert!(!html.contains("<style"), "inline style element");
        assert!(!html.contains(" style="), "inline style attribute");
        assert!(!html.contains("javascript:"), "javascript: URL");
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"), "foreign asset");
        for attr in [" onclick=", " onload=", " onerror=", " onsubmit=", " oninput=", " onchange="] {
            assert!(!html.contains(attr), "inline handler {attr}");
        }
    }

    /// The script writes no HTML from strings (Trusted Types would refuse it anyway), and keeps
    /// nothing in the browser's storage: the session is the `HttpOnly` cookie, the second step's
    /// token and a mailed link's token live in memory only.
    #[test]
    fn the_script_uses_no_html_sinks_and_stores_nothing() {
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            assert!(!JS.body.contains(sink), "the script uses {sink}");
        }
        for store in ["document.cookie", "localStorage", "sessionStorage", "indexedDB"] {
            assert!(!JS.body.contains(store), "the script uses {store}");
        }
    }

    /// The tags are FNV-1a's (its published 128-bit test values) and differ between files.
    #[test]
    fn etags_are_quoted_hex_that_follow_the_content() {
        assert_eq!(std::str::from_utf8(&etag_of("")).unwrap(), "\"6c62272e07bb014262b821756295c58d\"");
        assert_eq!(std::str::from_utf8(&etag_of("a")).unwrap(), "\"d228cb696f1a8caf78912b704e4a8964\"");
        assert_ne!(etag_of("a"), etag_of("b"));
        let tags = [HTML.etag(), HTML_SHUT.etag(), CSS.etag(), JS.etag()];
        for tag in tags {
            assert!(tag.len() == 34 && tag.starts_with('"') && tag.ends_with('"'), "{tag}");
            assert!(tag[1..33].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{tag}");
        }
        for (i, a) in tags.iter().enumerate() {
            for b in &tags[i + 1..] {
                assert_ne!(a, b, "two files share a tag");
            }
        }
    }

    #[test]
    fn every_input_has_a_label() {
        for document in DOCUMENTS {
            let html = document.body;
            for (i, _) in html.match_indices("<input") {
                let tag = &html[i..i + html[i..].find('>').unwrap()];
                let id = tag.split("id=\"").nth(1).and_then(|r| r.split('"').next()).expect("an input without an id");
                assert!(html.contains(&format!("for=\"{id}\"")), "no label for #{id}");
            }
        }
    }

    /// The shut document is the open one with the marker on its root element turned, and
    /// nothing else: the script reads the attribute there.
    #[test]
    fn the_shut_document_differs_only_in_its_registration_marker() {
        let root = |html: &'static str| {
            let start = html.find("<html").unwrap();
            &html[start..start + html[start..].find('>').unwrap()]
        };
        assert_eq!(root(HTML.body), "<html lang=\"en\" data-registration=\"open\"");
        assert_eq!(root(HTML_SHUT.body), "<html lang=\"en\" data-registration=\"shut\"");
        assert_eq!(HTML.body.replace("data-registration=\"open\"", "data-registration=\"shut\""), HTML_SHUT.body);
        assert_eq!(HTML_SHUT.body.matches("data-registration=").count(), 1);
        assert!(JS.body.contains("dataset.registration !== 'open'"), "the script no longer reads the marker");
    }

    #[test]
    fn the_setting_picks_the_document() {
        let open = Settings::default();
        assert!(open.registration_enabled, "registration is open unless turned off");
        assert!(std::ptr::eq(document(&open), &HTML));
        let shut = Settings { registration_enabled: false, ..Settings::default() };
        assert!(std::ptr::eq(document(&shut), &HTML_SHUT));
    }
}
