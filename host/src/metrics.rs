//! `/metrics` in the Prometheus text format: requests by route and status, latency, store
//! errors by store, component instances created, hashing turns, events and the outbox's
//! deliveries and backlog by kind.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    pub store: &'static str,
    pub kind: &'static str,
}

/// Which kind of outbox message: `mail` or `webhook`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub store_errors: Family<StoreLabels, Counter>,
    pub instances: Counter,
    pub hash_turns: Counter,
    pub hash_refused: Counter,
    pub replica_waits_short: Counter,
    pub events: Counter,
    pub delivered: Family<KindLabels, Counter>,
    pub delivery_retries: Family<KindLabels, Counter>,
    pub given_up: Family<KindLabels, Counter>,
    pub pending: Family<KindLabels, Gauge>,
    pub oldest_pending: Family<KindLabels, Gauge<f64, AtomicU64>>,
    registry: Registry,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("asm");
    let requests = Family::<RequestLabels, Counter>::default();
    let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
        Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
    });
    let store_errors = Family::<StoreLabels, Counter>::default();
    let instances = Counter::default();
    let (hash_turns, hash_refused, replica_waits_short) = (Counter::default(), Counter::default(), Counter::default());
    registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
    registry.register("http_request_duration_seconds", "Time to the response head, by route", latency.clone());
    registry.register("store_errors", "Store calls that failed, by store and kind", store_errors.clone());
    registry.register("component_instances", "Component instances created", instances.clone());
    registry.register("hash_turns", "Turns at hashing a password given", hash_turns.clone());
    registry.register(
        "hash_refused",
        "Requests refused a turn at hashing (queue full, or none in time): answered 503",
        hash_refused.clone(),
    );
    registry.register(
        "redis_replica_waits_short",
        "Writes that must outlive a failover whose replicas did not confirm them within REDIS_WAIT_TIMEOUT",
        replica_waits_short.clone(),
    );
    let events = Counter::default();
    registry.register(
        "events",
        "Events written (each with its webhook delivery when WEBHOOK_URL is set)",
        events.clone(),
    );
    let delivered = Family::<KindLabels, Counter>::default();
    registry.register("outbox_delivered", "Outbox messages delivered, by kind (mail, webhook)", delivered.clone());
    let delivery_retries = Family::<KindLabels, Counter>::default();
    registry.register(
        "outbox_retries",
        "Deliveries that failed and will be tried again, by kind",
        delivery_retries.clone(),
    );
    let given_up = Family::<KindLabels, Counter>::default();
    registry.register(
        "outbox_given_up",
        "Messages given up (refused for good, or a week old), by kind",
        given_up.clone(),
    );
    let pending = Family::<KindLabels, Gauge>::default();
    registry.register("outbox_pending", "Messages waiting to be delivered, by kind", pending.clone());
    let oldest_pending = Family::<KindLabels, Gauge<f64, AtomicU64>>::default();
    registry.register(
        "outbox_oldest_pending_seconds",
        "Age of the oldest message waiting to be delivered, by kind (0: none)",
        oldest_pending.clone(),
    );
    Metrics {
        requests,
        latency,
        store_errors,
        instances,
        hash_turns,
        hash_refused,
        replica_waits_short,
        events,
        delivered,
        delivery_retries,
        given_up,
        pending,
        oldest_pending,
        registry,
    }
});

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn store_error(&self, store: &'static str, e: &crate::stores::StoreError) {
        let kind = match e {
            crate::stores::StoreError::Conflict(_) => return,
            crate::stores::StoreError::Unavailable(_) => "unavailable",
            crate::stores::StoreError::Internal(_) => "internal",
        };
        self.store_errors.get_or_create(&StoreLabels { store, kind }).inc();
    }
}

/// The method as a label: the ones HTTP defines for APIs, and `other` for anything else (a
/// client chooses the method, so its text must not become a label).
pub fn method(m: &http::Method) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN.into_iter().find(|k| *k == m.as_str()).unwrap_or("other")
}

/// At most `max` bytes of client-chosen text for a log line, cut on a character boundary.
pub fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// The route a path belongs to, with ids folded (the component's route table), so labels stay few.
pub fn route(path: &str) -> &'static str {
    if path == "/metrics" {
        return "/metrics";
    }
    asm_contract::http::template(path).unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_chosen_text_is_bounded() {
        assert_eq!(method(&http::Method::POST), "POST");
        assert_eq!(method(&http::Method::from_bytes(&[b'X'; 8000]).unwrap()), "other");
        assert_eq!(shorten("héllo", 2), "h…");
        assert_eq!(shorten("abc", 10), "abc");
    }

    #[test]
    fn routes_fold_ids_and_unknown_paths() {
        assert_eq!(route("/auth/user/sessions/abc"), "/auth/user/sessions/{id}");
        assert_eq!(route("/wp-admin"), "other");
        assert_eq!(route("/auth/login"), "/auth/login");
    }
}
