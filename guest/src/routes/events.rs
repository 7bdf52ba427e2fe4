//! Events: every change to an account or its sessions is written, through the `events` import,
//! before the change itself, so that no change is ever without its event (API.md, "Events").
//!
//! The order, and what a failure between the two leaves:
//! - the event first ([`Ctx::recorded`]): if it cannot be written, nothing changes and the
//!   request answers 503;
//! - then the change: if its first store step fails, the event is taken back (`withdraw`)
//!   before anyone reads it, and the request answers 503. Only when that too fails (the store
//!   of events went down between the two calls) does an event stand for a change that did not
//!   happen; it is logged. A change is never left without its event.
//! - The creation of an account is the one change whose event needs what the change makes (the
//!   id): the account is created first, then its event; if the event cannot be written the
//!   account is deleted again and the request answers 503 ([`Ctx::created`]).
//!
//! `GET /admin/events` reads them ([`list`]).

use super::Ctx;
use crate::client::{CLIENT_ADDR_HEADER, client_ip, parse_addr};
use crate::envelope::{self, ApiError, FieldError};
use crate::http::Response;
use asm_contract::{EventFilter, EventType, NewEvent, UserId};
use serde_json::{Value, json};
use std::future::Future;

impl Ctx<'_> {
    /// The client's address, as an event records it (empty when unknown).
    fn event_address(&self) -> String {
        let peer = self.req.header_values(CLIENT_ADDR_HEADER).last().and_then(parse_addr);
        client_ip(peer, self.req.header_values("x-forwarded-for"), &self.settings.trusted_proxies)
            .map(|ip| ip.to_string())
            .unwrap_or_default()
    }

    fn new_event(&self, event_type: EventType, user: Option<&str>, data: Value) -> NewEvent {
        NewEvent {
            event_type,
            user_id: user.map(str::to_string),
            at: self.host.system.now_ms(),
            ip_address: self.event_address(),
            data: data.to_string(),
        }
    }

    /// Writes the event, then makes the change; the event is taken back when the change fails.
    pub async fn recorded<T, F>(&self, event_type: EventType, user: &str, data: Value, change: F) -> Result<T, ApiError>
    where
        F: Future<Output = Result<T, ApiError>>,
    {
        let id = self.host.events.append(self.new_event(event_type, Some(user), data)).await?;
        match change.await {
            Ok(done) => Ok(done),
            Err(e) => {
                if let Err(w) = self.host.events.withdraw(id).await {
                    eprintln!("event {id} ({}) stands for a change that failed: {w:?}", event_type.as_str());
                }
                Err(e)
            }
        }
    }

    /// Writes an event that goes with no change of its own (a failed sign-in, a lock-out), of an
    /// account or of an address without one (the same work either way).
    pub async fn record(&self, event_type: EventType, user: Option<&str>, data: Value) -> Result<(), ApiError> {
        self.host.events.append(self.new_event(event_type, user, data)).await?;
        Ok(())
    }

    /// The event of an account just created; when it cannot be written the account is deleted
    /// again, so there is no account without its event.
    pub async fn created(&self, user: &UserId, data: Value) -> Result<(), ApiError> {
        let event = self.new_event(EventType::UserCreated, Some(user.as_str()), data);
        if let Err(e) = self.host.events.append(event).await {
            if let Err(d) = self.host.users.delete_user(user.clone()).await {
                eprintln!("account {user} stands without its user.created event: {d:?}");
            }
            return Err(e.into());
        }
        Ok(())
    }
}

const PAGE_MAX: u32 = 100;
const PAGE_DEFAULT: u32 = 50;

/// `GET /admin/events?user_id=&type=&limit=&cursor=`, newest first (the caller is authorized).
pub async fn list(cx: &Ctx<'_>) -> Result<Response, ApiError> {
    let req = cx.req;
    let mut errors = Vec::new();
    let user_id = req.query_param_decoded("user_id").filter(|u| !u.is_empty());
    if user_id.as_ref().is_some_and(|u| u.len() > 100) {
        errors.push(FieldError::new("user_id", "is not an account id"));
    }
    let event_type = match req.query_param_decoded("type").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match EventType::parse(&t) {
            Some(t) => Some(t),
            None => {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                errors.push(FieldError::new("type", format!("must be one of {}", known.join(", "))));
                None
            }
        },
    };
    let limit = super::page_limit(req, PAGE_DEFAULT, PAGE_MAX, &mut errors);
    let cursor = req.query_param_decoded("cursor").filter(|c| !c.is_empty());
    if cursor.as_ref().is_some_and(|c| c.parse::<i64>().map_or(true, |n| n <= 0)) {
        errors.push(FieldError::new("cursor", "is not a cursor this service gave"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = cx.host.events.list_events(EventFilter { user_id, event_type }, limit, cursor).await?;
    let events: Vec<Value> = page.events.iter().map(asm_contract::event_json::view).collect();
    Ok(envelope::success(200, "Events", json!({ "events": events, "next_cursor": page.next })))
}
