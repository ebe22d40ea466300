//! Anomaly detection on final candles: volume spikes and price jumps, each judged against the
//! instrument's previous windows of the same length and reported with its evidence.

use std::collections::VecDeque;

use crate::contract::{Anomaly, AnomalyKind, Candle};
use crate::decimal::Decimal;

#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyConfig {
    /// How many previous windows (with trades) make the baseline. Nothing is flagged until an
    /// instrument has that much history.
    pub lookback_windows: usize,
    /// A volume spike is a window volume above this many times the baseline mean.
    pub volume_spike_factor: f64,
    /// A price jump is a close-to-close log return whose z-score exceeds this in absolute value.
    pub price_jump_z: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig { lookback_windows: 20, volume_spike_factor: 3.0, price_jump_z: 4.0 }
    }
}

/// Rolling history of one instrument at one window length.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AnomalyDetector {
    volumes: VecDeque<f64>,
    log_returns: VecDeque<f64>,
    previous_close: Option<Decimal>,
}

impl AnomalyDetector {
    pub fn new(config: &AnomalyConfig) -> Self {
        AnomalyDetector {
            volumes: VecDeque::with_capacity(config.lookback_windows),
            log_returns: VecDeque::with_capacity(config.lookback_windows),
            previous_close: None,
        }
    }

    /// Judges a final candle against the history, then adds it to the history.
    pub fn on_final(&mut self, candle: &Candle, config: &AnomalyConfig) -> [Option<Anomaly>; 2] {
        let volume = candle.volume.to_f64();
        let spike = baseline(&self.volumes, config.lookback_windows).and_then(|(mean, std)| {
            let ratio = volume / mean;
            (mean > 0.0 && ratio > config.volume_spike_factor).then(|| {
                anomaly(
                    candle,
                    AnomalyKind::VolumeSpike,
                    volume,
                    (mean, std),
                    ratio,
                    config.volume_spike_factor,
                    config,
                )
            })
        });
        push_bounded(&mut self.volumes, volume, config.lookback_windows);

        let log_return = self.previous_close.map(|previous| (candle.close.to_f64() / previous.to_f64()).ln());
        let jump = log_return.and_then(|observed| {
            let (mean, std) = baseline(&self.log_returns, config.lookback_windows)?;
            let z = (observed - mean) / std;
            (std > 0.0 && z.abs() > config.price_jump_z)
                .then(|| anomaly(candle, AnomalyKind::PriceJump, observed, (mean, std), z, config.price_jump_z, config))
        });
        if let Some(observed) = log_return {
            push_bounded(&mut self.log_returns, observed, config.lookback_windows);
        }
        self.previous_close = Some(candle.close);
        [spike, jump]
    }
}

fn anomaly(
    candle: &Candle,
    kind: AnomalyKind,
    observed: f64,
    (baseline_mean, baseline_std): (f64, f64),
    score: f64,
    threshold: f64,
    config: &AnomalyConfig,
) -> Anomaly {
    Anomaly {
        instrument_id: candle.instrument_id.clone(),
        window_start_us: candle.window_start_us,
        window_length_us: candle.window_length_us,
        kind,
        observed,
        baseline_mean,
        baseline_std,
        score,
        threshold,
        lookback_windows: u32::try_from(config.lookback_windows).unwrap_or(u32::MAX),
    }
}

/// Mean and population standard deviation, once the history is full.
fn baseline(history: &VecDeque<f64>, lookback: usize) -> Option<(f64, f64)> {
    if lookback == 0 || history.len() < lookback {
        return None;
    }
    let n = history.len() as f64;
    let mean = history.iter().sum::<f64>() / n;
    let variance = history.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    Some((mean, variance.sqrt()))
}

fn push_bounded(history: &mut VecDeque<f64>, value: f64, capacity: usize) {
    if capacity == 0 {
        return;
    }
    if history.len() == capacity {
        history.pop_front();
    }
    history.push_back(value);
}
