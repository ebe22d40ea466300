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

/// Declares the metric families once: each family's field, type and help text (what `/metrics`
/// says about it), registered under `tickflow_<field>`.
macro_rules! metric_families {
    ($($(#[doc = $doc:literal])+ $field:ident: $family:ty = $make:expr;)+) => {
        /// The metric families, registered under `tickflow_*`.
        #[derive(Debug, Clone)]
        pub struct ServiceMetrics {
            $($(#[doc = $doc])+ pub $field: $family,)+
        }

        impl ServiceMetrics {
            pub fn register(registry: &mut Registry) -> Self {
                let metrics = ServiceMetrics { $($field: $make,)+ };
                let registry = registry.sub_registry_with_prefix("tickflow");
                $(registry.register(stringify!($field), concat!($($doc),+).trim(), metrics.$field.clone());)+
                metrics
            }
        }
    };
}

metric_families! {
    /// Records consumed or received, by topic or feed
    records_in: Family<TopicLabel, Counter> = Family::default();
    /// Records produced, by topic
    records_out: Family<TopicLabel, Counter> = Family::default();
    /// Records rejected, by stage and reason
    rejections: Family<RejectionLabels, Counter> = Family::default();
    /// Records behind the end of each partition
    consumer_lag: Family<PartitionLabels, Gauge> = Family::default();
    /// Latency of each stage: receive time to output, window close to candle, record to lake
    latency_seconds: Family<NameLabel, Histogram, fn() -> Histogram> = Family::new_with_constructor(latency_histogram);
    /// Lake files written, by table
    files_written: Family<NameLabel, Counter> = Family::default();
    /// Lake rows written, by table
    rows_written: Family<NameLabel, Counter> = Family::default();
    /// Retried operations, by operation
    retries: Family<NameLabel, Counter> = Family::default();
    /// Notable events (reconnects, restores, heartbeats), by name
    events: Family<NameLabel, Counter> = Family::default();
    /// Trades that arrived after their windows were final (kept, marked late), by venue
    late_trades: Family<VenueLabel, Counter> = Family::default();
    /// 1 while a venue's feed is held (disconnected or recovering), so its windows wait
    source_held: Family<VenueLabel, Gauge> = Family::default();
    /// Event-time seconds the stream has run ahead of a held venue's feed
    source_hold_seconds: Family<VenueLabel, Gauge<f64, std::sync::atomic::AtomicU64>> = Family::default();
    /// Held feeds declared lost by the hold bound (their windows closed without them), by venue
    sources_lost: Family<VenueLabel, Counter> = Family::default();
    /// Consumer-group rebalances (assigned, revoked, lost) and the time this member's work in each took
    rebalance_seconds: Family<NameLabel, Histogram, fn() -> Histogram> = Family::new_with_constructor(latency_histogram);
    /// Partitions this member of its consumer group owns, by topic
    assigned_partitions: Family<TopicLabel, Gauge> = Family::default();
    /// Time to restore one assigned partition (its state read back, its outputs probed), by topic
    restore_seconds: Family<TopicLabel, Histogram, fn() -> Histogram> = Family::new_with_constructor(latency_histogram);
    /// Size of the last state record of each partition sent to the changelog (compressed)
    state_bytes: Family<PartitionLabels, Gauge> = Family::default();
    /// 1 while a venue the producer reads is in a trading session (any calendar of the instruments it follows; crypto always), else 0
    venue_in_session: Family<VenueLabel, Gauge> = Family::default();
    /// When the lake-writer read the oldest record it holds unwritten, by input topic (seconds since the epoch; 0 when it holds none)
    lake_oldest_unwritten_timestamp_seconds: Family<TopicLabel, Gauge<f64, std::sync::atomic::AtomicU64>> = Family::default();
}

impl ServiceMetrics {
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
    /// of the partition, as the broker last reported it.
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
