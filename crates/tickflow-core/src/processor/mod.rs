//! The stream-processor's pure core: bytes of a `raw_trades` record in; an enriched trade or a
//! rejection out, plus whatever candles and anomalies the record's event time closed. Feed-gap
//! records are checked and passed on.
//!
//! Order of checks for each record: size, JSON shape, values (price, size, clock skew),
//! reference data (unknown symbol), lateness, identity (duplicate). Only then does a trade
//! change state, so a rejected record leaves no trace beyond its rejection.
//!
//! Watermarks: each instrument's own watermark is the latest event time it has accepted. So
//! that a quiet instrument's windows still close, its effective watermark is the greater of
//! that and the stream watermark minus `idle_timeout_us`, where the stream watermark is the
//! latest event time accepted on any instrument or given to [`StreamProcessor::advance_stream_time`].
//! A trade older than its instrument's effective watermark minus the allowed lateness is
//! `late_event`; every other trade lands in windows that are still open. The output is a
//! function of the input order alone, so a replay produces the same records.

use crate::anomaly::AnomalyConfig;
use crate::contract::{EnrichedTrade, Enrichment, Metric, RejectReason, Rejection, Trade};
use crate::decimal::Decimal;
use crate::dedup::{RecentIdentities, trade_identity};
use crate::feed::check_gap;
use crate::reference::{InstrumentIx, ReferenceData, SessionClock};
use crate::validate::{ValidationRules, check_values, parse_trade};
use crate::window::{Tick, WindowSeries};

mod snapshot;

pub use snapshot::{ProcessorSnapshot, RestoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorConfig {
    /// Tumbling window lengths; default 1 s and 1 min.
    pub windows_us: Vec<i64>,
    /// How long after a window's end late trades may still revise it.
    pub allowed_lateness_us: i64,
    /// How far an instrument's watermark may trail the stream's before its windows are closed
    /// by the stream's progress.
    pub idle_timeout_us: i64,
    pub validation: ValidationRules,
    pub anomaly: AnomalyConfig,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            windows_us: vec![1_000_000, 60_000_000],
            allowed_lateness_us: 2_000_000,
            idle_timeout_us: 5_000_000,
            validation: ValidationRules::default(),
            anomaly: AnomalyConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("at least one window length is needed")]
    NoWindows,
    #[error("window lengths must be positive and distinct")]
    BadWindow,
    #[error("allowed lateness and idle timeout must not be negative")]
    NegativeDuration,
}

impl ProcessorConfig {
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.windows_us.is_empty() {
            return Err(ConfigError::NoWindows);
        }
        let mut lengths = self.windows_us.clone();
        lengths.sort_unstable();
        lengths.dedup();
        if lengths.len() != self.windows_us.len() || lengths[0] <= 0 {
            return Err(ConfigError::BadWindow);
        }
        if self.allowed_lateness_us < 0 || self.idle_timeout_us < 0 {
            return Err(ConfigError::NegativeDuration);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct InstrumentState {
    watermark_us: i64,
    last_price: Option<Decimal>,
    recent: RecentIdentities,
    series: Vec<WindowSeries>,
}

#[derive(Debug)]
pub struct StreamProcessor {
    config: ProcessorConfig,
    reference: ReferenceData,
    sessions: SessionClock,
    /// Indexed like the reference data; created on an instrument's first trade.
    instruments: Vec<Option<InstrumentState>>,
    stream_watermark_us: i64,
    next_sweep_us: i64,
    sweep_step_us: i64,
    arrivals: u64,
}

const LATE: Rejection = Rejection::new(RejectReason::LateEvent, "older than the watermark minus the allowed lateness");
const DUPLICATE: Rejection = Rejection::new(RejectReason::Duplicate, "trade identity already seen");
const UNKNOWN_SYMBOL: Rejection =
    Rejection::new(RejectReason::UnknownSymbol, "instrument is not in the reference data");

impl StreamProcessor {
    pub fn new(config: ProcessorConfig, reference: ReferenceData) -> Result<Self, ConfigError> {
        config.check()?;
        let instruments = vec![None; reference.instruments().len()];
        let sweep_step_us = config.windows_us.iter().copied().min().unwrap_or(1);
        Ok(StreamProcessor {
            sessions: SessionClock::new(reference.calendars().to_vec()),
            config,
            reference,
            instruments,
            stream_watermark_us: i64::MIN,
            next_sweep_us: i64::MIN,
            sweep_step_us,
            arrivals: 0,
        })
    }

    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    /// Processes one `raw_trades` record.
    pub fn process<'a>(&mut self, bytes: &'a [u8], metrics: &mut Vec<Metric>) -> Result<EnrichedTrade<'a>, Rejection> {
        let trade = parse_trade(bytes, &self.config.validation)?;
        self.accept(trade, metrics)
    }

    /// Processes a trade that is already parsed (its values are checked again).
    pub fn process_trade<'a>(
        &mut self,
        trade: Trade<'a>,
        metrics: &mut Vec<Metric>,
    ) -> Result<EnrichedTrade<'a>, Rejection> {
        check_values(&trade, &self.config.validation)?;
        self.accept(trade, metrics)
    }

    /// Checks a `raw_trades` feed-gap record; the accepted gap goes on to `realtime_metrics` as it
    /// is. A gap changes no state: its trades are missing, not late.
    pub fn feed_gap(&self, bytes: &[u8], metrics: &mut Vec<Metric>) -> Result<(), Rejection> {
        if bytes.len() > self.config.validation.max_message_bytes {
            return Err(Rejection::new(RejectReason::TooLarge, "message is larger than the limit"));
        }
        metrics.push(Metric::FeedGap(check_gap(bytes, &self.reference)?));
        Ok(())
    }

    /// Moves the stream watermark to at least `time_us` (a watermark record from the input),
    /// closing the windows that this closes.
    pub fn advance_stream_time(&mut self, time_us: i64, metrics: &mut Vec<Metric>) {
        self.stream_watermark_us = self.stream_watermark_us.max(time_us);
        self.sweep_if_due(metrics);
    }

    /// Closes every open window as if the input had ended (for bounded inputs and tests).
    pub fn finish(&mut self, metrics: &mut Vec<Metric>) {
        self.stream_watermark_us = i64::MAX;
        self.sweep(metrics);
    }

    fn effective_watermark(&self, own_watermark_us: i64) -> i64 {
        own_watermark_us.max(self.stream_watermark_us.saturating_sub(self.config.idle_timeout_us))
    }

    fn new_instrument_state(&self) -> InstrumentState {
        InstrumentState {
            watermark_us: i64::MIN,
            last_price: None,
            recent: RecentIdentities::default(),
            series: self
                .config
                .windows_us
                .iter()
                .map(|&length| WindowSeries::new(length, &self.config.anomaly))
                .collect(),
        }
    }

    fn accept<'a>(&mut self, trade: Trade<'a>, metrics: &mut Vec<Metric>) -> Result<EnrichedTrade<'a>, Rejection> {
        let ix = self.reference.lookup(&trade.instrument_id).ok_or(UNKNOWN_SYMBOL)?;
        let lateness = self.config.allowed_lateness_us;
        let time = trade.event_time_us;
        let own = self.instruments[ix as usize].as_ref().map_or(i64::MIN, |s| s.watermark_us);
        if time < self.effective_watermark(own).saturating_sub(lateness) {
            return Err(LATE);
        }
        if self.instruments[ix as usize].is_none() {
            self.instruments[ix as usize] = Some(self.new_instrument_state());
        }
        let Some(state) = self.instruments[ix as usize].as_mut() else { return Err(UNKNOWN_SYMBOL) };
        if !state.recent.insert(trade_identity(&trade)) {
            return Err(DUPLICATE);
        }

        self.arrivals += 1;
        if !trade.price_only {
            let tick = Tick {
                event_time_us: time,
                arrival: self.arrivals,
                price: trade.price,
                size: trade.size,
                side: trade.side,
                log_price: trade.price.to_f64().ln(),
            };
            for series in &mut state.series {
                series.add(&tick, &self.reference.instrument(ix).id, metrics);
            }
        }
        state.watermark_us = state.watermark_us.max(time);
        self.stream_watermark_us = self.stream_watermark_us.max(time);
        self.close_windows(ix, metrics);

        let instrument = self.reference.instrument(ix);
        let Some(state) = self.instruments[ix as usize].as_mut() else { return Err(UNKNOWN_SYMBOL) };
        let price_change =
            state.last_price.and_then(|previous| trade.price.checked_sub(previous).map(|c| (previous, c)));
        state.last_price = Some(trade.price);
        let enrichment = Enrichment {
            asset_class: instrument.asset_class,
            exchange: instrument.exchange.clone(),
            quote_currency: instrument.quote_currency.clone(),
            session: self.sessions.session(instrument.calendar, time),
            trade_value: trade.price.mul_exact(trade.size),
            price_change: price_change.map(|(_, change)| change),
            price_change_bps: price_change.map(|(previous, change)| change.to_f64() / previous.to_f64() * 10_000.0),
        };
        self.sweep_if_due(metrics);
        Ok(EnrichedTrade::new(trade, enrichment))
    }

    /// Advances one instrument's windows and dedup horizon to its effective watermark.
    fn close_windows(&mut self, ix: InstrumentIx, metrics: &mut Vec<Metric>) {
        let Some(own) = self.instruments[ix as usize].as_ref().map(|s| s.watermark_us) else { return };
        let watermark = self.effective_watermark(own);
        let lateness = self.config.allowed_lateness_us;
        let id = &self.reference.instrument(ix).id;
        let Some(state) = self.instruments[ix as usize].as_mut() else { return };
        for series in &mut state.series {
            series.advance(watermark, lateness, &self.config.anomaly, id, metrics);
        }
        state.recent.advance(watermark, lateness);
    }

    /// Sweeps all instruments once the stream watermark has moved a smallest window further.
    fn sweep_if_due(&mut self, metrics: &mut Vec<Metric>) {
        let horizon = self.stream_watermark_us.saturating_sub(self.config.idle_timeout_us);
        if horizon >= self.next_sweep_us {
            self.sweep(metrics);
            self.next_sweep_us =
                horizon.div_euclid(self.sweep_step_us).saturating_add(1).saturating_mul(self.sweep_step_us);
        }
    }

    fn sweep(&mut self, metrics: &mut Vec<Metric>) {
        for ix in 0..self.instruments.len() {
            if self.instruments[ix].is_some() {
                let ix = InstrumentIx::try_from(ix).unwrap_or(InstrumentIx::MAX);
                self.close_windows(ix, metrics);
            }
        }
    }

    /// Identities remembered for dedup and windows open, over all instruments: the size of the
    /// state that grows with traffic.
    pub fn state_size(&self) -> (usize, usize) {
        self.instruments.iter().flatten().fold((0, 0), |(ids, windows), s| {
            (ids + s.recent.len(), windows + s.series.iter().map(WindowSeries::open_windows).sum::<usize>())
        })
    }
}
