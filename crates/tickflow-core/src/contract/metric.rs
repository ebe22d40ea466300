//! The realtime metric contracts (`schemas/candle.schema.json`, `schemas/anomaly.schema.json`,
//! `schemas/feed_gap.schema.json`): what the stream-processor writes to `realtime_metrics`, told
//! apart by `metric`.

use smol_str::SmolStr;

use serde::{Deserialize, Serialize};

use super::FeedGap;
use crate::decimal::{Decimal, Notional, Volume};

/// One record on `realtime_metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "metric", rename_all = "snake_case")]
pub enum Metric {
    Candle(Candle),
    Anomaly(Anomaly),
    /// Trades the producer knows it missed and could not recover, passed on from `raw_trades`.
    FeedGap(FeedGap),
}

/// What a `realtime_metrics` record is: the value of its `metric` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Candle,
    Anomaly,
    FeedGap,
}

impl Metric {
    pub fn kind(&self) -> MetricKind {
        match self {
            Metric::Candle(_) => MetricKind::Candle,
            Metric::Anomaly(_) => MetricKind::Anomaly,
            Metric::FeedGap(_) => MetricKind::FeedGap,
        }
    }

    pub fn instrument_id(&self) -> &SmolStr {
        match self {
            Metric::Candle(candle) => &candle.instrument_id,
            Metric::Anomaly(anomaly) => &anomaly.instrument_id,
            Metric::FeedGap(gap) => &gap.instrument_id,
        }
    }
}

/// Where the processor puts the metrics it emits, in order. A `Vec` collects them; the
/// stream-processor encodes and sends each as it comes, so a sweep that closes every
/// instrument's windows at once never holds all of its metrics.
pub trait MetricSink {
    fn emit(&mut self, metric: Metric);
}

impl MetricSink for Vec<Metric> {
    fn emit(&mut self, metric: Metric) {
        self.push(metric);
    }
}

/// An OHLCV candle of the event-time window `[window_start_us, window_start_us + window_length_us)`,
/// labelled by its start.
///
/// A window is emitted when the watermark passes its end (`is_final = false` while allowed
/// lateness lasts), again for every late trade that revises it, and a last time with
/// `is_final = true` when the watermark passes its end plus the allowed lateness. `revision`
/// counts the earlier emissions of the same window, so the final record always has the
/// highest revision. With no allowed lateness the final record is the only one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub instrument_id: SmolStr,
    pub window_start_us: i64,
    pub window_length_us: i64,
    /// Price of the earliest trade by (event time, arrival order).
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    /// Price of the latest trade by (event time, arrival order).
    pub close: Decimal,
    pub volume: Volume,
    /// Sum of price × size; `vwap = quote_volume / volume`.
    pub quote_volume: Notional,
    pub vwap: f64,
    pub trade_count: u64,
    /// Volume whose aggressor bought; `volume - buy_volume - sell_volume` had no side.
    pub buy_volume: Volume,
    pub sell_volume: Volume,
    /// `sqrt(sum r^2)` over the log returns between consecutive trades of the window in
    /// arrival order; 0 with fewer than two trades.
    pub realized_volatility: f64,
    pub first_event_time_us: i64,
    pub last_event_time_us: i64,
    pub revision: u32,
    pub is_final: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// `observed` (window volume) > `threshold` × `baseline_mean` of the previous windows.
    VolumeSpike,
    /// `|score|` > `threshold`, where `score` is the z-score of `observed` (the close-to-close
    /// log return) against the previous windows' returns.
    PriceJump,
}

/// An anomaly detected on a final candle, with the evidence that triggered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub instrument_id: SmolStr,
    pub window_start_us: i64,
    pub window_length_us: i64,
    pub kind: AnomalyKind,
    pub observed: f64,
    pub baseline_mean: f64,
    pub baseline_std: f64,
    /// `observed / baseline_mean` for a volume spike; the z-score for a price jump.
    pub score: f64,
    pub threshold: f64,
    /// How many previous windows the baseline covers.
    pub lookback_windows: u32,
}
