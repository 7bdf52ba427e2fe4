//! An event as JSON: the one shape `GET /admin/events` shows and every webhook carries.

use crate::Event;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// The public id of the event with this store id; a webhook's `webhook-id` is the same.
pub fn public_id(id: i64) -> String {
    format!("evt_{id}")
}

/// RFC 3339 in UTC with milliseconds.
pub fn timestamp(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)).to_string()
}

/// `{id, type, user_id, at, ip_address, data}`; `data` is the event's object (`{}` if the store
/// kept something else).
pub fn view(e: &Event) -> Value {
    let data: Value = serde_json::from_str(&e.data).ok().filter(Value::is_object).unwrap_or_else(|| json!({}));
    json!({
        "id": public_id(e.id),
        "type": e.event_type.as_str(),
        "user_id": e.user_id,
        "at": timestamp(e.at),
        "ip_address": e.ip_address,
        "data": data,
    })
}

/// The body of a webhook, in the Standard Webhooks shape: `{type, timestamp, data}`, where
/// `data` is the event as [`view`] shows it.
pub fn webhook_body(e: &Event) -> String {
    json!({ "type": e.event_type.as_str(), "timestamp": timestamp(e.at), "data": view(e) }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventType;

    #[test]
    fn events_read_the_same_everywhere() {
        let e = Event {
            id: 42,
            event_type: EventType::SessionRevoked,
            user_id: Some("u1".into()),
            at: 1_700_000_000_123,
            ip_address: "203.0.113.7".into(),
            data: r#"{"reason":"logout"}"#.into(),
        };
        let v = view(&e);
        assert_eq!(v["id"], "evt_42");
        assert_eq!(v["type"], "session.revoked");
        assert_eq!(v["at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["data"]["reason"], "logout");
        let body: Value = serde_json::from_str(&webhook_body(&e)).unwrap();
        assert_eq!((body["type"].as_str(), &body["data"]), (Some("session.revoked"), &v));
        let odd = Event { data: "not json".into(), ..e };
        assert_eq!(view(&odd)["data"], json!({}));
    }
}
