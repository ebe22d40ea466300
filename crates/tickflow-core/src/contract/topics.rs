//! The Kafka topics between the services, declared once. Every topic is keyed by instrument id
//! (dead letters by the instrument when it is known), so order per instrument holds.

/// Trades normalized by the producer ([`super::Trade`] as JSON).
pub const RAW_TRADES: &str = "raw_trades";
/// Validated, deduplicated, enriched trades ([`super::EnrichedTrade`] as JSON).
pub const ENRICHED_TRADES: &str = "enriched_trades";
/// Candles and anomalies ([`super::Metric`] as JSON).
pub const REALTIME_METRICS: &str = "realtime_metrics";
/// Rejected records: the original bytes as the value, the reason and source as headers.
pub const DEAD_LETTERS: &str = "dead_letters";

pub const ALL_TOPICS: [&str; 4] = [RAW_TRADES, ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS];
