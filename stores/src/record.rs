//! How a session is written down in a store (Redis, SQLite): JSON of a record the stores own,
//! not of the WIT record. The WIT record may gain fields from one release to the next; this
//! format only ever gains fields with defaults, so a session written by an older release still
//! reads after an upgrade (and one written by a newer release still reads after a rollback:
//! unknown fields are ignored).
//!
//! Version 1 is the first with `"v"`; sessions written before it have no `"v"` and the same
//! fields, and read the same way.
//!
//! A user's profile, kept beside their sessions for session checks, is written the same way
//! ([`encode_profile`]), without its last login (stores keep that apart, to keep the newest).

use asm_contract::{Device, Session, StoreError, UserProfile};
use serde::{Deserialize, Serialize};

/// The format this release writes.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default)]
    v: u32,
    id: String,
    token_hash: String,
    user_id: String,
    #[serde(default)]
    ip_address: String,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    device: StoredDevice,
    #[serde(default)]
    location: String,
    created_at: i64,
    #[serde(default)]
    last_activity: i64,
    expires_at: i64,
    /// Sessions written before the second factor existed had none.
    #[serde(default)]
    mfa: bool,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct StoredDevice {
    browser: String,
    browser_version: String,
    os: String,
    os_version: String,
    category: String,
    summary: String,
}

pub fn encode(s: &Session) -> String {
    let d = &s.device;
    let stored = Stored {
        v: VERSION,
        id: s.id.clone(),
        token_hash: s.token_hash.clone(),
        user_id: s.user_id.clone(),
        ip_address: s.ip_address.clone(),
        user_agent: s.user_agent.clone(),
        device: StoredDevice {
            browser: d.browser.clone(),
            browser_version: d.browser_version.clone(),
            os: d.os.clone(),
            os_version: d.os_version.clone(),
            category: d.category.clone(),
            summary: d.summary.clone(),
        },
        location: s.location.clone(),
        created_at: s.created_at,
        last_activity: s.last_activity,
        expires_at: s.expires_at,
        mfa: s.mfa,
    };
    serde_json::to_string(&stored).expect("a session always serialises")
}

/// Reads a stored session; `last_activity`, when the store keeps it apart, wins over the JSON's.
pub fn decode(json: &str, last_activity: Option<i64>) -> Result<Session, StoreError> {
    let s: Stored =
        serde_json::from_str(json).map_err(|e| StoreError::Internal(format!("stored session is unreadable: {e}")))?;
    let d = s.device;
    Ok(Session {
        id: s.id,
        token_hash: s.token_hash,
        user_id: s.user_id,
        ip_address: s.ip_address,
        user_agent: s.user_agent,
        device: Device {
            browser: d.browser,
            browser_version: d.browser_version,
            os: d.os,
            os_version: d.os_version,
            category: d.category,
            summary: d.summary,
        },
        location: s.location,
        created_at: s.created_at,
        last_activity: last_activity.unwrap_or(s.last_activity),
        expires_at: s.expires_at,
        mfa: s.mfa,
    })
}

#[derive(Serialize, Deserialize)]
struct StoredProfile {
    #[serde(default)]
    v: u32,
    id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    created_at: i64,
    /// Profiles kept before verification existed read as unverified.
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    mfa_enabled: bool,
}

/// The profile without its last login.
pub fn encode_profile(p: &UserProfile) -> String {
    let stored = StoredProfile {
        v: VERSION,
        id: p.id.clone(),
        email: p.email.clone(),
        username: p.username.clone(),
        full_name: p.full_name.clone(),
        created_at: p.created_at,
        email_verified: p.email_verified,
        mfa_enabled: p.mfa_enabled,
    };
    serde_json::to_string(&stored).expect("a profile always serialises")
}

pub fn decode_profile(json: &str, last_login: Option<i64>) -> Result<UserProfile, StoreError> {
    let p: StoredProfile =
        serde_json::from_str(json).map_err(|e| StoreError::Internal(format!("stored profile is unreadable: {e}")))?;
    Ok(UserProfile {
        id: p.id,
        email: p.email,
        username: p.username,
        full_name: p.full_name,
        created_at: p.created_at,
        last_login,
        email_verified: p.email_verified,
        mfa_enabled: p.mfa_enabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly what the release before this format wrote (serde of the WIT record).
    const UNVERSIONED: &str = r#"{"id":"k3Jq0x5yQmKk8h1m2n3o4p","token_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","user_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","ip_address":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0","device":{"browser":"Firefox","browser_version":"121.0","os":"Linux","os_version":"UNKNOWN","category":"pc","summary":"Firefox 121 on Linux"},"location":"Local","created_at":1700000000000,"last_activity":1700000000000,"expires_at":1700086400000}"#;

    #[test]
    fn a_session_written_before_the_versioned_format_still_reads() {
        let s = decode(UNVERSIONED, Some(1_700_000_060_000)).unwrap();
        assert_eq!(s.user_id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
        assert_eq!(s.device.summary, "Firefox 121 on Linux");
        assert_eq!(
            (s.created_at, s.last_activity, s.expires_at),
            (1_700_000_000_000, 1_700_000_060_000, 1_700_086_400_000)
        );
    }

    #[test]
    fn round_trip_and_tolerance() {
        let s = decode(UNVERSIONED, None).unwrap();
        let json = encode(&s);
        assert!(json.starts_with(r#"{"v":1,"#), "{json}");
        assert_eq!(decode(&json, None).unwrap(), s);
        // Fields a later release may add are ignored; optional ones may be missing.
        let later = json.replacen(r#"{"v":1,"#, r#"{"v":7,"later":true,"#, 1);
        assert_eq!(decode(&later, None).unwrap(), s);
        let sparse = r#"{"id":"a","token_hash":"b","user_id":"c","created_at":1,"expires_at":2}"#;
        assert_eq!(decode(sparse, None).unwrap().device, Device::default());
        assert!(matches!(decode("{}", None), Err(StoreError::Internal(_))));
        assert!(matches!(decode("not json", None), Err(StoreError::Internal(_))));
    }

    #[test]
    fn profiles_round_trip_with_the_last_login_kept_apart() {
        let p = UserProfile {
            id: "u1".into(),
            email: "a@b.co".into(),
            username: "abc".into(),
            full_name: "A B".into(),
            created_at: 5,
            last_login: Some(9),
            email_verified: true,
            mfa_enabled: true,
        };
        let json = encode_profile(&p);
        assert!(!json.contains('9'), "{json}");
        assert_eq!(decode_profile(&json, Some(9)).unwrap(), p);
        assert_eq!(decode_profile(&json, None).unwrap().last_login, None);
        assert_eq!(decode_profile(r#"{"id":"u1","later":1}"#, None).unwrap().email, "");
        assert!(decode_profile("[]", None).is_err());
    }
}
