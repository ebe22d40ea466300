//! The data contracts every part of tickflow shares. `schemas/` is the single source; the
//! types here serialize to JSON that validates against it (checked by tests), and the column
//! model in [`schema`] is read from it.

pub mod dead_letter;
pub mod enriched;
pub mod gap;
pub mod json;
pub mod metric;
pub mod schema;
pub mod topics;
pub mod trade;

pub use dead_letter::{DeadLetter, RejectReason, Rejection, Stage};
pub use enriched::{AssetClass, EnrichedTrade, Enrichment, Session};
pub use gap::{FeedGap, GapReason};
pub use metric::{Anomaly, AnomalyKind, Candle, Metric, MetricKind, MetricSink};
pub use trade::{Side, Trade, Venue, Watermark};
