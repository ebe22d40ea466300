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
//! latest event time accepted on any instrument or named by a watermark record. Idle is not
//! behind: while an instrument's source (its venue's feed) is *held* by a watermark record
//! (disconnected, or recovering what it missed), the stream's progress closes its windows no
//! further than the time the source is complete up to, until the source releases the hold or
//! the stream runs `max_hold_us` ahead of it; then the source is declared lost, a
//! `source_lost` feed gap is emitted for each of its instruments, and its windows close with
//! the stream again. An instrument's windows never reopen: the watermark they were closed to
//! only grows.
//!
//! A valid trade older than its instrument's effective watermark minus the allowed lateness is
//! a *late* trade: it is deduplicated and enriched like any other and goes out marked `late`,
//! but changes no window (they are final) and no watermark. The output is a function of the
//! input order alone, so a replay produces the same records.

use crate::anomaly::AnomalyConfig;
use crate::contract::{
    EnrichedTrade, Enrichment, FeedGap, GapReason, Metric, MetricSink, RejectReason, Rejection, Trade, Venue, Watermark,
};
use crate::decimal::Decimal;
use crate::dedup::{RecentIdentities, trade_identity};
use crate::feed::check_gap;
use crate::reference::{InstrumentIx, ReferenceData, SessionClock};
use crate::validate::{ValidationRules, check_values, parse_trade};
use crate::window::{Tick, WindowSeries};

mod snapshot;

pub use snapshot::{LiveInstruments, ProcessorSnapshot, RestoreError, SavedInstruments};

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorConfig {
    /// Tumbling window lengths; default 1 s and 1 min.
    pub windows_us: Vec<i64>,
    /// How long after a window's end late trades may still revise it.
    pub allowed_lateness_us: i64,
    /// How far an instrument's watermark may trail the stream's before its windows are closed
    /// by the stream's progress.
    pub idle_timeout_us: i64,
    /// How far the stream may run ahead of a held source before the source is declared lost.
    pub max_hold_us: i64,
    pub validation: ValidationRules,
    pub anomaly: AnomalyConfig,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            windows_us: vec![1_000_000, 60_000_000],
            allowed_lateness_us: 2_000_000,
            idle_timeout_us: 5_000_000,
            max_hold_us: 120_000_000,
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
    #[error("allowed lateness, idle timeout and hold bound must not be negative")]
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
        if self.allowed_lateness_us < 0 || self.idle_timeout_us < 0 || self.max_hold_us < 0 {
            return Err(ConfigError::NegativeDuration);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct InstrumentState {
    watermark_us: i64,
    /// The watermark its windows were closed to; it only grows.
    closed_us: i64,
    /// The venue of its latest trade: the source whose holds apply to it.
    venue: Venue,
    last_price: Option<Decimal>,
    recent: RecentIdentities,
    series: Vec<WindowSeries>,
}

impl InstrumentState {
    /// Its effective watermark when the stream's progress closes its source's windows up to
    /// `horizon`: its own, or the horizon, and never below what its windows were closed to.
    fn closed_to(&self, horizon: i64) -> i64 {
        self.watermark_us.max(self.closed_us).max(horizon)
    }
}

/// What the processor knows of one source's completeness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceStatus {
    /// While held: the event time the source is complete up to.
    pub held_at_us: Option<i64>,
    /// Held for longer than the bound: its windows close with the stream until it is released.
    pub lost: bool,
}

#[derive(Debug)]
pub struct StreamProcessor {
    config: ProcessorConfig,
    reference: ReferenceData,
    sessions: SessionClock,
    /// Indexed like the reference data; created on an instrument's first trade.
    instruments: Vec<Option<Box<InstrumentState>>>,
    /// Indexed by `Venue as usize`.
    sources: [SourceStatus; 3],
    stream_watermark_us: i64,
    next_sweep_us: i64,
    sweep_step_us: i64,
    arrivals: u64,
}

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
            sources: [SourceStatus::default(); 3],
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
    pub fn process<'a>(
        &mut self,
        bytes: &'a [u8],
        metrics: &mut impl MetricSink,
    ) -> Result<EnrichedTrade<'a>, Rejection> {
        let trade = parse_trade(bytes, &self.config.validation)?;
        self.accept(trade, metrics)
    }

    /// Processes a trade that is already parsed (its values are checked again).
    pub fn process_trade<'a>(
        &mut self,
        trade: Trade<'a>,
        metrics: &mut impl MetricSink,
    ) -> Result<EnrichedTrade<'a>, Rejection> {
        check_values(&trade, &self.config.validation)?;
        self.accept(trade, metrics)
    }

    /// Checks a `raw_trades` feed-gap record; the accepted gap goes on to `realtime_metrics` as it
    /// is. A gap changes no state: its trades are missing, not late.
    pub fn feed_gap(&self, bytes: &[u8], metrics: &mut impl MetricSink) -> Result<(), Rejection> {
        if bytes.len() > self.config.validation.max_message_bytes {
            return Err(Rejection::new(RejectReason::TooLarge, "message is larger than the limit"));
        }
        metrics.emit(Metric::FeedGap(check_gap(bytes, &self.reference)?));
        Ok(())
    }

    /// Moves the stream watermark to at least `time_us` (every source has reached it), closing
    /// the windows that this closes.
    pub fn advance_stream_time(&mut self, time_us: i64, metrics: &mut impl MetricSink) {
        self.watermark(&Watermark::all(time_us), metrics);
    }

    /// A watermark record from the input: progress of one source or of all, a hold of a source
    /// that cannot promise more, or the release of that hold. Emits what this closes.
    pub fn watermark(&mut self, watermark: &Watermark, metrics: &mut impl MetricSink) {
        self.stream_watermark_us = self.stream_watermark_us.max(watermark.watermark_us);
        match watermark.venue.map(|venue| &mut self.sources[venue as usize]) {
            Some(source) if watermark.held => {
                // A source already held (or lost) stays so from the earlier point.
                if source.held_at_us.is_none() && !source.lost {
                    source.held_at_us = Some(watermark.watermark_us);
                }
                self.sweep_if_due(metrics);
            }
            Some(source) if *source != SourceStatus::default() => {
                *source = SourceStatus::default();
                self.sweep(metrics); // its windows may close as far as the stream's now
            }
            _ => self.sweep_if_due(metrics),
        }
    }

    /// What the processor knows of each venue's source.
    pub fn sources(&self) -> impl Iterator<Item = (Venue, SourceStatus)> + '_ {
        Venue::ALL.into_iter().map(|venue| (venue, self.sources[venue as usize]))
    }

    /// The latest event time of the stream (any source).
    pub fn stream_watermark_us(&self) -> i64 {
        self.stream_watermark_us
    }

    /// Closes every open window as if the input had ended (for bounded inputs and tests).
    pub fn finish(&mut self, metrics: &mut impl MetricSink) {
        self.stream_watermark_us = i64::MAX;
        self.sources = [SourceStatus::default(); 3];
        self.sweep(metrics);
    }

    /// How far the stream's progress closes the windows of `venue`'s instruments.
    fn horizon(&self, venue: Venue) -> i64 {
        let idle = self.stream_watermark_us.saturating_sub(self.config.idle_timeout_us);
        match self.sources[venue as usize] {
            SourceStatus { held_at_us: Some(held), lost: false } => idle.min(held),
            _ => idle,
        }
    }

    fn effective_watermark(&self, state: &InstrumentState) -> i64 {
        state.closed_to(self.horizon(state.venue))
    }

    fn new_instrument_state(&self, venue: Venue) -> InstrumentState {
        InstrumentState {
            watermark_us: i64::MIN,
            closed_us: i64::MIN,
            venue,
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

    fn accept<'a>(&mut self, trade: Trade<'a>, metrics: &mut impl MetricSink) -> Result<EnrichedTrade<'a>, Rejection> {
        let ix = self.reference.lookup(&trade.instrument_id).ok_or(UNKNOWN_SYMBOL)?;
        let lateness = self.config.allowed_lateness_us;
        let time = trade.event_time_us;
        if self.instruments[ix as usize].is_none() {
            self.instruments[ix as usize] = Some(Box::new(self.new_instrument_state(trade.venue)));
        }
        let horizon = self.horizon(trade.venue);
        let Some(state) = self.instruments[ix as usize].as_mut() else { return Err(UNKNOWN_SYMBOL) };
        state.venue = trade.venue;
        let late = time < state.closed_to(horizon).saturating_sub(lateness);
        if !state.recent.insert(trade_identity(&trade)) {
            return Err(DUPLICATE);
        }
        if late {
            // Its windows are final: it goes out marked late and changes no state but dedup's.
            let price_change =
                state.last_price.and_then(|previous| trade.price.checked_sub(previous).map(|c| (previous, c)));
            return Ok(self.enrich(ix, trade, price_change, true));
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

        let Some(state) = self.instruments[ix as usize].as_mut() else { return Err(UNKNOWN_SYMBOL) };
        let price_change =
            state.last_price.and_then(|previous| trade.price.checked_sub(previous).map(|c| (previous, c)));
        state.last_price = Some(trade.price);
        let enriched = self.enrich(ix, trade, price_change, false);
        self.sweep_if_due(metrics);
        Ok(enriched)
    }

    /// Reference data and derived values; `price_change` is (previous price, change).
    fn enrich<'a>(
        &mut self,
        ix: InstrumentIx,
        trade: Trade<'a>,
        price_change: Option<(Decimal, Decimal)>,
        late: bool,
    ) -> EnrichedTrade<'a> {
        let instrument = self.reference.instrument(ix);
        let enrichment = Enrichment {
            asset_class: instrument.asset_class,
            exchange: instrument.exchange.clone(),
            quote_currency: instrument.quote_currency.clone(),
            session: self.sessions.session(instrument.calendar, trade.event_time_us),
            trade_value: trade.price.mul_exact(trade.size),
            price_change: price_change.map(|(_, change)| change),
            price_change_bps: price_change.map(|(previous, change)| change.to_f64() / previous.to_f64() * 10_000.0),
            is_late: late,
        };
        EnrichedTrade::new(trade, enrichment)
    }

    /// Advances one instrument's windows and dedup horizon to its effective watermark.
    fn close_windows(&mut self, ix: InstrumentIx, metrics: &mut impl MetricSink) {
        let Some(state) = self.instruments[ix as usize].as_ref() else { return };
        let watermark = self.effective_watermark(state);
        let lateness = self.config.allowed_lateness_us;
        let id = &self.reference.instrument(ix).id;
        let Some(state) = self.instruments[ix as usize].as_mut() else { return };
        for series in &mut state.series {
            series.advance(watermark, lateness, &self.config.anomaly, id, metrics);
        }
        state.recent.advance(watermark, lateness);
        state.closed_us = watermark;
    }

    /// Declares lost every held source the stream has run more than the bound ahead of: a
    /// `source_lost` gap for each of its instruments, from the time it was complete up to to
    /// the stream's time now. Its windows then close with the stream.
    fn expire_holds(&mut self, metrics: &mut impl MetricSink) -> bool {
        let mut expired = false;
        for venue in Venue::ALL {
            let source = &mut self.sources[venue as usize];
            let Some(held) = source.held_at_us else { continue };
            if source.lost || self.stream_watermark_us.saturating_sub(held) <= self.config.max_hold_us {
                continue;
            }
            source.lost = true;
            expired = true;
            let to_us = self.stream_watermark_us;
            for (ix, state) in self.instruments.iter().enumerate() {
                let Some(state) = state.as_ref().filter(|s| s.venue == venue) else { continue };
                let instrument = &self.reference.instruments()[ix];
                let Some((_, symbol)) = instrument.venue_symbols.iter().find(|(v, _)| *v == venue) else { continue };
                // Its own trades up to its own watermark were delivered.
                let from_us = held.max(state.watermark_us).min(to_us);
                metrics.emit(Metric::FeedGap(FeedGap {
                    gap_key: FeedGap::key(venue, symbol, from_us, to_us),
                    venue,
                    venue_symbol: symbol.clone(),
                    instrument_id: instrument.id.clone(),
                    reason: GapReason::SourceLost,
                    from_us,
                    to_us,
                    first_missing_trade_id: None,
                    last_missing_trade_id: None,
                    missing_trades: None,
                    detected_at_us: to_us,
                }));
            }
        }
        expired
    }

    /// Sweeps all instruments once the stream watermark has moved a smallest window further.
    fn sweep_if_due(&mut self, metrics: &mut impl MetricSink) {
        if self.sources.iter().any(|s| s.held_at_us.is_some() && !s.lost) && self.expire_holds(metrics) {
            self.sweep(metrics);
        }
        let horizon = self.stream_watermark_us.saturating_sub(self.config.idle_timeout_us);
        if horizon >= self.next_sweep_us {
            self.sweep(metrics);
            self.next_sweep_us =
                horizon.div_euclid(self.sweep_step_us).saturating_add(1).saturating_mul(self.sweep_step_us);
        }
    }

    fn sweep(&mut self, metrics: &mut impl MetricSink) {
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
