//! The query-api's own metrics, next to `/metrics`, `/healthz` and `/readyz` from tickflow-service.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

fn request_histogram() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: Family<RouteLabels, Counter>,
    request_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pub marts_reloads: Counter,
    /// When the marts in use were published (seconds since the epoch), 0 before the first build.
    pub marts_published: Gauge,
    pub live_subscribers: Gauge,
    pub live_events: Counter,
    pub live_dropped: Counter,
}

impl ApiMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ApiMetrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(request_histogram),
            marts_reloads: Counter::default(),
            marts_published: Gauge::default(),
            live_subscribers: Gauge::default(),
            live_events: Counter::default(),
            live_dropped: Counter::default(),
        };
        let registry = registry.sub_registry_with_prefix("tickflow_api");
        registry.register("requests", "HTTP requests answered, by route and status", metrics.requests.clone());
        registry.register("request_seconds", "Time to answer a request, by route", metrics.request_seconds.clone());
        registry.register(
            "marts_reloads",
            "Published marts builds opened after the first",
            metrics.marts_reloads.clone(),
        );
        registry.register(
            "marts_published_timestamp_seconds",
            "When the marts in use were published (0 before the first build)",
            metrics.marts_published.clone(),
        );
        registry.register("live_subscribers", "Open live streams", metrics.live_subscribers.clone());
        registry.register(
            "live_events",
            "realtime_metrics records read for the live streams",
            metrics.live_events.clone(),
        );
        registry.register("live_dropped", "Live events a slow client missed", metrics.live_dropped.clone());
        metrics
    }

    pub fn observe(&self, route: &str, status: u16, took: Duration) {
        self.requests.get_or_create(&RouteLabels { route: route.to_owned(), status }).inc();
        self.request_seconds.get_or_create(&RouteLabel { route: route.to_owned() }).observe(took.as_secs_f64());
    }
}
