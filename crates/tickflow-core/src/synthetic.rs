//! A seeded, deterministic synthetic market: geometric Brownian motion prices per instrument,
//! Poisson arrivals with bursts (so volume spikes happen), occasional price jumps, venue-style
//! identities and sides. The same seed gives the same trades on every machine. It feeds the
//! demo, the property tests and the benchmarks, and renders venue frames for the normalizers.

use smol_str::SmolStr;
use std::borrow::Cow;

use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal, StandardNormal, StandardUniform};
use rand_pcg::Pcg64Mcg;

use crate::contract::{AssetClass, Side, Trade, Venue};
use crate::decimal::Decimal;
use crate::reference::{Calendar, Instrument, ReferenceData};

#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    pub seed: u64,
    /// Event time of the first trade, microseconds since the epoch.
    pub start_time_us: i64,
    /// Mean trades per second of event time, over all instruments.
    pub trades_per_second: f64,
    /// Annualised-style volatility per sqrt(second) of the log price.
    pub volatility_per_sqrt_second: f64,
    /// Chance per trade that a burst starts on a random instrument.
    pub burst_start_probability: f64,
    /// Share of all trades that go to the bursting instrument while a burst lasts.
    pub burst_share: f64,
    /// Trades a burst lasts.
    pub burst_length: u32,
    /// Chance per trade of a price jump of several standard deviations.
    pub jump_probability: f64,
    /// Chance per Finnhub trade of a price-only update (`v = 0`).
    pub price_only_probability: f64,
    /// Each instrument's first trade id (the next ones count up). A market that starts at the
    /// wall clock takes its start time in microseconds, so the ids of a later run never repeat an
    /// earlier run's (no instrument trades more than once a microsecond).
    pub first_trade_id: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 42,
            start_time_us: 1_700_000_000_000_000,
            trades_per_second: 10_000.0,
            volatility_per_sqrt_second: 0.0005,
            burst_start_probability: 0.0002,
            burst_share: 0.3,
            burst_length: 2_000,
            jump_probability: 0.00005,
            price_only_probability: 0.01,
            first_trade_id: 1_000_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Quote {
    venue: Venue,
    venue_symbol: SmolStr,
    instrument_id: SmolStr,
    price: f64,
    price_tick: i64,
    size_lot: i64,
    last_time_us: i64,
    /// Finnhub: the millisecond of the last trade and the (price, size) pairs sent in it.
    finnhub_ms: i64,
    finnhub_sent: Vec<(i64, i64)>,
    next_trade_id: u64,
}

#[derive(Debug, Clone)]
pub struct SyntheticMarket {
    config: SyntheticConfig,
    rng: Pcg64Mcg,
    quotes: Vec<Quote>,
    cumulative_weights: Vec<f64>,
    time_us: i64,
    burst: Option<(usize, u32)>,
    /// Mean gap between trades, microseconds.
    mean_gap_us: f64,
}

impl SyntheticMarket {
    /// A market over every instrument of `reference` that some venue lists.
    pub fn new(reference: &ReferenceData, config: SyntheticConfig) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(config.seed);
        let mut quotes = Vec::new();
        for instrument in reference.instruments() {
            let Some((venue, symbol)) = preferred_listing(instrument) else { continue };
            let uniform: f64 = StandardUniform.sample(&mut rng);
            let price = match instrument.asset_class {
                AssetClass::Equity => 20.0 + 480.0 * uniform,
                AssetClass::Crypto => 10f64.powf(-2.0 + 6.0 * uniform),
            };
            let price_tick = if price >= 1.0 { 1_000_000 } else { 1_000 };
            let size_lot = if instrument.asset_class == AssetClass::Equity { 100_000_000 } else { 10_000 };
            quotes.push(Quote {
                venue,
                venue_symbol: symbol,
                instrument_id: instrument.id.clone(),
                price,
                price_tick,
                size_lot,
                last_time_us: config.start_time_us,
                finnhub_ms: 0,
                finnhub_sent: Vec::new(),
                next_trade_id: config.first_trade_id,
            });
        }
        // Zipf-like activity: a few instruments trade far more than the rest.
        let mut total = 0.0;
        let cumulative_weights = (1..=quotes.len())
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(0.8);
                total
            })
            .collect();
        let mean_gap_us = 1e6 / config.trades_per_second.max(1e-9);
        SyntheticMarket {
            time_us: config.start_time_us,
            config,
            rng,
            quotes,
            cumulative_weights,
            burst: None,
            mean_gap_us,
        }
    }

    pub fn instrument_count(&self) -> usize {
        self.quotes.len()
    }

    /// The next trade in event-time order.
    pub fn next_trade(&mut self) -> Trade<'static> {
        let uniform: f64 = StandardUniform.sample(&mut self.rng);
        self.time_us += (-(1.0 - uniform).ln() * self.mean_gap_us).round() as i64; // exponential gaps
        let index = self.pick_instrument();
        let uniform: f64 = StandardUniform.sample(&mut self.rng);
        let normal: f64 = StandardNormal.sample(&mut self.rng);
        let jump = uniform < self.config.jump_probability;
        let bursting = self.burst.is_some_and(|(i, _)| i == index);
        let size_draw: f64 = LogNormal::new(0.0, 1.0).map_or(1.0, |d| d.sample(&mut self.rng));
        let side_draw: f64 = StandardUniform.sample(&mut self.rng);
        let config = &self.config;
        let quote = &mut self.quotes[index];

        let elapsed_s = ((self.time_us - quote.last_time_us).max(1) as f64) / 1e6;
        let sigma = config.volatility_per_sqrt_second * elapsed_s.sqrt();
        let shock = if jump { 8.0 * config.volatility_per_sqrt_second * normal.signum() } else { sigma * normal };
        quote.price *= (shock - 0.5 * sigma * sigma).exp();
        quote.last_time_us = self.time_us;

        let mut price_units =
            (((quote.price * 1e8) / quote.price_tick as f64).round() as i64).max(1) * quote.price_tick;
        let lots = ((size_draw * if bursting { 20.0 } else { 1.0 }).ceil() as i64).max(1);
        let price_only = quote.venue == Venue::Finnhub && side_draw < config.price_only_probability;
        let mut size_units = if price_only { 0 } else { lots * quote.size_lot };
        if quote.venue == Venue::Finnhub {
            // Finnhub has no trade ids: two equal trades of one symbol in one millisecond are
            // indistinguishable from a redelivery, so the generator never makes them.
            let ms = self.time_us / 1_000;
            if ms != quote.finnhub_ms {
                quote.finnhub_ms = ms;
                quote.finnhub_sent.clear();
            }
            while quote.finnhub_sent.contains(&(price_units, size_units)) {
                if price_only { price_units += quote.price_tick } else { size_units += quote.size_lot }
            }
            quote.finnhub_sent.push((price_units, size_units));
        }
        let size = Decimal::from_units(size_units);
        let side = match quote.venue {
            Venue::Finnhub => Side::Unknown,
            _ if side_draw < 0.5 => Side::Buy,
            _ => Side::Sell,
        };
        let trade_id = quote.next_trade_id;
        quote.next_trade_id += 1;
        let symbol = quote.venue_symbol.to_string();
        let (trade_key, trade_id) = match quote.venue {
            Venue::Finnhub => (format!("finnhub:{symbol}:{}:{trade_id:016x}", self.time_us / 1_000), None),
            venue => (format!("{}:{symbol}:{trade_id}", venue.as_str()), Some(Cow::Owned(trade_id.to_string()))),
        };
        let event_time_us = match quote.venue {
            Venue::Finnhub | Venue::Binance => self.time_us / 1_000 * 1_000,
            Venue::Coinbase => self.time_us,
        };
        Trade {
            trade_key: Cow::Owned(trade_key),
            venue: quote.venue,
            venue_symbol: Cow::Owned(symbol),
            instrument_id: Cow::Owned(quote.instrument_id.to_string()),
            trade_id,
            price: Decimal::from_units(price_units),
            size,
            side,
            conditions: if quote.venue == Venue::Finnhub && !price_only {
                vec![Cow::Borrowed("1")]
            } else {
                Vec::new()
            },
            price_only,
            event_time_us,
            receive_time_us: self.time_us + 1_500,
        }
    }

    fn pick_instrument(&mut self) -> usize {
        let draw: f64 = StandardUniform.sample(&mut self.rng);
        if let Some((index, remaining)) = self.burst {
            self.burst = remaining.checked_sub(1).map(|r| (index, r));
            if draw < self.config.burst_share {
                return index;
            }
        }
        let total = self.cumulative_weights.last().copied().unwrap_or(0.0);
        let target: f64 = StandardUniform.sample(&mut self.rng);
        let index = self.cumulative_weights.partition_point(|&w| w < target * total).min(self.quotes.len() - 1);
        if self.burst.is_none() && draw > 1.0 - self.config.burst_start_probability {
            self.burst = Some((index, self.config.burst_length));
        }
        index
    }
}

/// The venue a synthetic instrument trades on: its own exchange's feed where tickflow has one.
fn preferred_listing(instrument: &Instrument) -> Option<(Venue, SmolStr)> {
    [Venue::Binance, Venue::Coinbase, Venue::Finnhub]
        .into_iter()
        .find_map(|venue| instrument.venue_symbols.iter().find(|(v, _)| *v == venue).cloned())
}

/// A reference catalogue of `count` made-up instruments, alternately Binance-listed crypto
/// pairs and Finnhub-listed US equities, for load tests and benchmarks.
pub fn synthetic_reference(count: usize) -> ReferenceData {
    let bundled = ReferenceData::bundled().ok();
    let calendars: Vec<Calendar> = bundled.map(|r| r.calendars().to_vec()).unwrap_or_default();
    let calendar = |name: &str| calendars.iter().position(|c| c.name == name).unwrap_or(0);
    let instruments = (0..count)
        .map(|i| {
            let base = format!("SYN{i:04}");
            if i % 2 == 0 {
                Instrument {
                    id: format!("{base}-USDT").into(),
                    asset_class: AssetClass::Crypto,
                    exchange: "BINANCE".into(),
                    base_asset: base.as_str().into(),
                    quote_currency: "USDT".into(),
                    calendar: calendar("continuous"),
                    venue_symbols: vec![(Venue::Binance, format!("{base}USDT").into())],
                }
            } else {
                Instrument {
                    id: base.as_str().into(),
                    asset_class: AssetClass::Equity,
                    exchange: "NASDAQ".into(),
                    base_asset: base.as_str().into(),
                    quote_currency: "USD".into(),
                    calendar: calendar("us_equity"),
                    venue_symbols: vec![(Venue::Finnhub, base.as_str().into())],
                }
            }
        })
        .collect();
    ReferenceData::new(instruments, calendars).unwrap_or_else(|_| unreachable!("synthetic ids are distinct"))
}

/// Renders a trade as the frame its venue would have sent (Binance raw `@trade`, a one-trade
/// Finnhub batch, or a Coinbase `market_trades` update).
pub fn venue_frame(trade: &Trade<'_>, sequence: u64) -> String {
    let millis = trade.event_time_us.div_euclid(1_000);
    match trade.venue {
        Venue::Binance => format!(
            r#"{{"e":"trade","E":{millis},"s":"{}","t":{},"p":"{}","q":"{}","T":{millis},"m":{},"M":true}}"#,
            trade.venue_symbol,
            trade.trade_id.as_deref().unwrap_or("0"),
            trade.price,
            trade.size,
            trade.side == Side::Sell,
        ),
        Venue::Finnhub => {
            let conditions: Vec<String> = trade.conditions.iter().map(|c| format!("\"{c}\"")).collect();
            format!(
                r#"{{"type":"trade","data":[{{"s":"{}","p":{},"t":{millis},"v":{},"c":[{}]}}]}}"#,
                trade.venue_symbol,
                trade.price,
                trade.size,
                conditions.join(",")
            )
        }
        Venue::Coinbase => {
            let time = chrono::DateTime::from_timestamp_micros(trade.event_time_us)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                .unwrap_or_default();
            let side = crate::venue::coinbase_reported_side(trade.side);
            format!(
                r#"{{"channel":"market_trades","client_id":"","timestamp":"{time}","sequence_num":{sequence},"events":[{{"type":"update","trades":[{{"trade_id":"{}","product_id":"{}","price":"{}","size":"{}","side":"{side}","time":"{time}"}}]}}]}}"#,
                trade.trade_id.as_deref().unwrap_or("0"),
                trade.venue_symbol,
                trade.price,
                trade.size,
            )
        }
    }
}
