//! The metrics every service exposes. A service creates the handles it needs once, at start,
//! so the hot path only increments.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabels {
    pub stage: String,
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VenueLabel {
    pub venue: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabel {
    pub name: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The metric families, registered under `tickflow_*`.
#[derive(Debug, Clone)]
pub struct ServiceMetrics {
    pub records_in: Family<TopicLabel, Counter>,
    pub records_out: Family<TopicLabel, Counter>,
    pub rejections: Family<RejectionLabels, Counter>,
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    pub latency_seconds: Family<NameLabel, Histogram, fn() -> Histogram>,
    pub files_written: Family<NameLabel, Counter>,
    pub rows_written: Family<NameLabel, Counter>,
    pub retries: Family<NameLabel, Counter>,
    pub events: Family<NameLabel, Counter>,
    /// Trades that arrived after their windows were final, by venue.
    pub late_trades: Family<VenueLabel, Counter>,
    /// 1 while a venue's source is held (disconnected or recovering), 0 otherwise.
    pub source_held: Family<VenueLabel, Gauge>,
    /// How far, in event-time seconds, the stream has run ahead of a held source.
    pub source_hold_seconds: Family<VenueLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Held sources declared lost by the hold bound, by venue.
    pub sources_lost: Family<VenueLabel, Counter>,
    /// Consumer-group rebalances this member took part in, by what happened (`assigned`,
    /// `revoked`, `lost`), and the time its own work in them took.
    pub rebalance_seconds: Family<NameLabel, Histogram, fn() -> Histogram>,
    /// Partitions this member owns, by topic.
    pub assigned_partitions: Family<TopicLabel, Gauge>,
    /// Time to restore one partition's state on assignment (state read back, outputs probed).
    pub restore_seconds: Family<TopicLabel, Histogram, fn() -> Histogram>,
    /// Size of the last state record of each partition sent to a changelog (compressed bytes).
    pub state_bytes: Family<PartitionLabels, Gauge>,
}

impl ServiceMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ServiceMetrics {
            records_in: Family::default(),
            records_out: Family::default(),
            rejections: Family::default(),
            consumer_lag: Family::default(),
            latency_seconds: Family::new_with_constructor(latency_histogram),
            files_written: Family::default(),
            rows_written: Family::default(),
            retries: Family::default(),
            events: Family::default(),
            late_trades: Family::default(),
            source_held: Family::default(),
            source_hold_seconds: Family::default(),
            sources_lost: Family::default(),
            rebalance_seconds: Family::new_with_constructor(latency_histogram),
            assigned_partitions: Family::default(),
            restore_seconds: Family::new_with_constructor(latency_histogram),
            state_bytes: Family::default(),
        };
        let registry = registry.sub_registry_with_prefix("tickflow");
        registry.register("records_in", "Records consumed or received, by topic or feed", metrics.records_in.clone());
        registry.register("records_out", "Records produced, by topic", metrics.records_out.clone());
        registry.register("rejections", "Records rejected, by stage and reason", metrics.rejections.clone());
        registry.register("consumer_lag", "Records behind the end of each partition", metrics.consumer_lag.clone());
        registry.register(
            "latency_seconds",
            "Latency of each stage: receive time to output, window close to candle, record to lake",
            metrics.latency_seconds.clone(),
        );
        registry.register("files_written", "Lake files written, by table", metrics.files_written.clone());
        registry.register("rows_written", "Lake rows written, by table", metrics.rows_written.clone());
        registry.register("retries", "Retried operations, by operation", metrics.retries.clone());
        registry.register(
            "events",
            "Notable events (reconnects, restores, heartbeats), by name",
            metrics.events.clone(),
        );
        registry.register(
            "late_trades",
            "Trades that arrived after their windows were final (kept, marked late), by venue",
            metrics.late_trades.clone(),
        );
        registry.register(
            "source_held",
            "1 while a venue's feed is held (disconnected or recovering), so its windows wait",
            metrics.source_held.clone(),
        );
        registry.register(
            "source_hold_seconds",
            "Event-time seconds the stream has run ahead of a held venue's feed",
            metrics.source_hold_seconds.clone(),
        );
        registry.register(
            "sources_lost",
            "Held feeds declared lost by the hold bound (their windows closed without them), by venue",
            metrics.sources_lost.clone(),
        );
        registry.register(
            "rebalance_seconds",
            "Consumer-group rebalances (assigned, revoked, lost) and the time this member's work in each took",
            metrics.rebalance_seconds.clone(),
        );
        registry.register(
            "assigned_partitions",
            "Partitions this member of its consumer group owns, by topic",
            metrics.assigned_partitions.clone(),
        );
        registry.register(
            "restore_seconds",
            "Time to restore one assigned partition (its state read back, its outputs probed), by topic",
            metrics.restore_seconds.clone(),
        );
        registry.register(
            "state_bytes",
            "Size of the last state record of each partition sent to the changelog (compressed)",
            metrics.state_bytes.clone(),
        );
        metrics
    }

    /// The member of a family labelled `venue=<venue>`.
    pub fn venue<T>(family: &Family<VenueLabel, T, impl Fn() -> T>, venue: &str) -> T
    where
        T: Clone + prometheus_client::metrics::TypedMetric,
    {
        family.get_or_create(&VenueLabel { venue: venue.to_owned() }).clone()
    }

    pub fn counter_in(&self, topic: &str) -> Counter {
        self.records_in.get_or_create(&TopicLabel { topic: topic.to_owned() }).clone()
    }

    pub fn counter_out(&self, topic: &str) -> Counter {
        self.records_out.get_or_create(&TopicLabel { topic: topic.to_owned() }).clone()
    }

    pub fn rejection(&self, stage: &str, reason: &str) -> Counter {
        self.rejections.get_or_create(&RejectionLabels { stage: stage.to_owned(), reason: reason.to_owned() }).clone()
    }

    /// Sets `consumer_lag` of a partition: records between the reader's position and the end
    /// of the partition, as the broker reports it.
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        let labels = PartitionLabels { topic: topic.to_owned(), partition: partition.to_string() };
        self.consumer_lag.get_or_create(&labels).set(lag);
    }

    /// Removes `consumer_lag` of a partition this member no longer reads.
    pub fn clear_lag(&self, topic: &str, partition: i32) {
        self.consumer_lag.remove(&PartitionLabels { topic: topic.to_owned(), partition: partition.to_string() });
    }

    /// Counts one retry of `operation`.
    pub fn retried(&self, operation: &str) {
        Self::named(&self.retries, operation).inc();
    }

    /// Records a rebalance step (`assigned`, `revoked`, `lost`) and how long this member's work took.
    pub fn record_rebalance(&self, what: &str, seconds: f64) {
        Self::named(&self.rebalance_seconds, what).observe(seconds);
    }

    /// The member of a family labelled `name=<name>`.
    pub fn named<T>(family: &Family<NameLabel, T, impl Fn() -> T>, name: &str) -> T
    where
        T: Clone + prometheus_client::metrics::TypedMetric,
    {
        family.get_or_create(&NameLabel { name: name.to_owned() }).clone()
    }
}
