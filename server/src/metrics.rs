//! The server's Prometheus metrics, served as text at `GET /metrics`: requests and latency by
//! route and status, cache hits, misses and bytes, store reads' latency and errors.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route (its pattern, e.g. `/api/v1/history`), or `grpc:<method>`.
    pub route: String,
    /// The HTTP status (or the gRPC code's HTTP equivalent).
    pub status: u16,
}

/// Labels of a route.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route.
    pub route: String,
}

/// Labels of a closed connection.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabels {
    /// Why: `header_timeout`, `idle`, `stalled`, `evicted`.
    pub reason: String,
}

/// Labels of a store operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    /// `feed` or `post`.
    pub dataset: String,
    /// `chunks` or `index`.
    pub op: String,
}

/// Every metric of the server, registered in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by route, seconds.
    pub latency: Family<RouteLabels, Histogram>,
    /// Decoded-chunk cache hits.
    pub cache_hits: Counter,
    /// Decoded-chunk cache misses (chunks read from the store).
    pub cache_misses: Counter,
    /// Estimated bytes held by the cache.
    pub cache_bytes: Gauge,
    /// Store read latency, seconds.
    pub store_latency: Family<StoreLabels, Histogram>,
    /// Store reads that failed.
    pub store_errors: Family<StoreLabels, Counter>,
    /// Calls received inside batches.
    pub batch_calls: Counter,
    /// Connections open.
    pub connections: Gauge,
    /// Connections that arrived over the cap.
    pub connections_refused: Counter,
    /// Connections the server closed, by reason.
    pub connections_closed: Family<CloseLabels, Counter>,
    /// Answer bytes held in memory by calls being answered.
    pub answer_bytes: Gauge,
    /// Calls cut short: by the response budget, the server's memory budget, a timeout or a
    /// client that went away.
    pub calls_cut: Family<CloseLabels, Counter>,
    /// Requests refused before their key was checked, because their address failed too often.
    pub auth_throttled: Counter,
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("xlserver");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let cache_hits = Counter::default();
        let cache_misses = Counter::default();
        let cache_bytes = Gauge::default();
        let store_latency =
            Family::<StoreLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let store_errors = Family::<StoreLabels, Counter>::default();
        let batch_calls = Counter::default();
        let connections = Gauge::default();
        let connections_refused = Counter::default();
        let connections_closed = Family::<CloseLabels, Counter>::default();
        let answer_bytes = Gauge::default();
        let calls_cut = Family::<CloseLabels, Counter>::default();
        let auth_throttled = Counter::default();
        registry.register("requests", "Requests by route and status", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Request latency by route",
            latency.clone(),
        );
        registry.register("cache_hits", "Decoded-chunk cache hits", cache_hits.clone());
        registry.register(
            "cache_misses",
            "Decoded-chunk cache misses (chunks read from the store)",
            cache_misses.clone(),
        );
        registry.register(
            "cache_bytes",
            "Estimated bytes of decoded chunks held by the cache",
            cache_bytes.clone(),
        );
        registry.register(
            "store_read_duration_seconds",
            "Store read latency",
            store_latency.clone(),
        );
        registry.register(
            "store_errors",
            "Store reads that failed",
            store_errors.clone(),
        );
        registry.register(
            "batch_calls",
            "Calls received inside batches",
            batch_calls.clone(),
        );
        registry.register("connections", "Connections open", connections.clone());
        registry.register(
            "connections_refused",
            "Connections that arrived over the connection cap",
            connections_refused.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections the server closed, by reason",
            connections_closed.clone(),
        );
        registry.register(
            "answer_bytes",
            "Answer bytes held by calls being answered",
            answer_bytes.clone(),
        );
        registry.register(
            "calls_cut",
            "Calls cut short (budget, memory, timeout, client gone), by reason",
            calls_cut.clone(),
        );
        registry.register(
            "auth_throttled",
            "Requests refused because their address failed authentication too often",
            auth_throttled.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            cache_hits,
            cache_misses,
            cache_bytes,
            store_latency,
            store_errors,
            batch_calls,
            connections,
            connections_refused,
            connections_closed,
            answer_bytes,
            calls_cut,
            auth_throttled,
        }
    }

    /// Counts a connection closed by the server for `reason`.
    pub fn connections_closed(&self, reason: &str) {
        self.connections_closed
            .get_or_create(&CloseLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a call cut short for `reason`.
    pub fn call_cut(&self, reason: &str) {
        self.calls_cut
            .get_or_create(&CloseLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts one request.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }
}
