//! User-Agent parsing (woothee) and truncation on arbitrary text, as the login route does it.
//! Input: one byte choosing a truncation length, then the User-Agent (lossy UTF-8).
#![no_main]

use asm_guest::device::{self, MAX_USER_AGENT};
use libfuzzer_sys::fuzz_target;

/// The summary is `browser major on os`: names from woothee's tables plus a version that came
/// from the (truncated) User-Agent, so it can never be much longer than that.
const MAX_SUMMARY: usize = MAX_USER_AGENT + 128;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let ua = String::from_utf8_lossy(rest);

    // truncate: a prefix, on a character boundary, no longer than asked.
    let max = usize::from(cut) * 4;
    let t = device::truncate(&ua, max);
    assert!(t.len() <= max && ua.starts_with(t));
    assert!(ua.len() <= max || max - t.len() < 4, "cut more than the character at the limit");

    // What the login route does: truncate the header, then parse.
    let header = device::truncate(&ua, MAX_USER_AGENT);
    for input in [&*ua, header] {
        let d = device::parse(input);
        assert!(!d.summary.is_empty(), "empty summary for {input:?}");
        assert!(d.summary.len() <= MAX_SUMMARY, "summary of {} bytes for {input:?}", d.summary.len());
        assert!(!d.browser.is_empty() && !d.os.is_empty() && !d.category.is_empty());
        assert!(d.browser_version.len() <= MAX_USER_AGENT && d.os_version.len() <= MAX_USER_AGENT);
    }
});
