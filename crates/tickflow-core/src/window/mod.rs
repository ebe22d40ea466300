//! Event-time tumbling windows.
//!
//! Windows are `[start, start + length)`, aligned to the Unix epoch and labelled by their
//! start, so a trade exactly at a window's end belongs to the next window. The watermark of an
//! instrument is the latest event time it has seen (or later, see [`crate::processor`]). When
//! the watermark reaches a window's end the window is emitted provisionally; each late trade
//! that still falls within the allowed lateness revises it; when the watermark reaches
//! `end + allowed lateness` the window is emitted a last time as final and forgotten.

mod builder;

use smol_str::SmolStr;

pub use builder::{CandleBuilder, Tick, vwap};

use crate::anomaly::{AnomalyConfig, AnomalyDetector};
use crate::contract::{Metric, MetricSink};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OpenWindow {
    builder: CandleBuilder,
    /// How many times this window was emitted so far: the next record's revision.
    emissions: u32,
}

/// The open windows of one instrument at one window length, oldest first, and the anomaly
/// detector fed by its final candles.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WindowSeries {
    length_us: i64,
    open: Vec<OpenWindow>,
    detector: AnomalyDetector,
}

impl WindowSeries {
    pub fn new(length_us: i64, anomaly: &AnomalyConfig) -> Self {
        WindowSeries { length_us, open: Vec::new(), detector: AnomalyDetector::new(anomaly) }
    }

    pub fn length_us(&self) -> i64 {
        self.length_us
    }

    /// Start of the window holding `event_time_us`.
    pub fn window_start(&self, event_time_us: i64) -> i64 {
        event_time_us.div_euclid(self.length_us) * self.length_us
    }

    /// Adds a trade to its window. A window already emitted is revised at once.
    pub fn add(&mut self, tick: &Tick, instrument_id: &SmolStr, out: &mut impl MetricSink) {
        let start = self.window_start(tick.event_time_us);
        let position = self.open.iter().rposition(|w| w.builder.start_us() <= start);
        match position {
            Some(i) if self.open[i].builder.start_us() == start => {
                let window = &mut self.open[i];
                window.builder.add(tick);
                if window.emissions > 0 {
                    out.emit(Metric::Candle(window.builder.to_candle(
                        instrument_id,
                        self.length_us,
                        window.emissions,
                        false,
                    )));
                    window.emissions += 1;
                }
            }
            _ => {
                let at = position.map_or(0, |i| i + 1);
                let builder = CandleBuilder::new(start, tick);
                // Grown one window at a time: an instrument keeps a few windows open for as long as
                // it trades, and with thousands of instruments the usual doubling would leave
                // most of that memory unused.
                self.open.reserve_exact(1);
                self.open.insert(at, OpenWindow { builder, emissions: 0 });
            }
        }
    }

    /// Emits what the watermark has closed: provisional candles for windows it has passed,
    /// final candles (and their anomalies) for windows it has passed by the allowed lateness.
    pub fn advance(
        &mut self,
        watermark_us: i64,
        allowed_lateness_us: i64,
        anomaly: &AnomalyConfig,
        instrument_id: &SmolStr,
        out: &mut impl MetricSink,
    ) {
        let mut finished = 0;
        for window in &mut self.open {
            let end = window.builder.end_us(self.length_us);
            if end > watermark_us {
                break;
            }
            if end.saturating_add(allowed_lateness_us) <= watermark_us {
                let candle = window.builder.to_candle(instrument_id, self.length_us, window.emissions, true);
                let anomalies = self.detector.on_final(&candle, anomaly);
                out.emit(Metric::Candle(candle));
                anomalies.into_iter().flatten().for_each(|anomaly| out.emit(Metric::Anomaly(anomaly)));
                finished += 1;
            } else if window.emissions == 0 {
                out.emit(Metric::Candle(window.builder.to_candle(instrument_id, self.length_us, 0, false)));
                window.emissions = 1;
            }
        }
        self.open.drain(..finished);
    }

    /// Number of windows still open.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }
}
