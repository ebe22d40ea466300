//! An independent, deliberately plain recomputation of what the stream-processor should
//! decide and emit: unbounded sets and full lists instead of bounded incremental state, and
//! `rust_decimal` instead of the core's fixed-point arithmetic.

use std::collections::{BTreeMap, HashMap, HashSet};

use rust_decimal::Decimal as Exact;
use rust_decimal::prelude::ToPrimitive;
use tickflow_core::contract::{Candle, RejectReason, Side, Trade};

#[derive(Debug, Clone)]
pub struct Accepted {
    pub arrival: usize,
    pub instrument: String,
    pub time: i64,
    pub price: Exact,
    pub size: Exact,
    pub side: Side,
    pub price_only: bool,
}

/// What happens to a valid trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Into its windows.
    OnTime,
    /// Its windows are final: passed on, marked late, in no candle.
    Late,
    Duplicate,
    /// A redelivery older than the watermark minus the lateness: the processor remembers
    /// identities only that far back, so it may pass it on as late or drop it as a duplicate.
    LateDuplicate,
}

impl Decision {
    /// The processor's answer as a decision.
    pub fn of(result: Result<bool, RejectReason>) -> Option<Decision> {
        match result {
            Ok(false) => Some(Decision::OnTime),
            Ok(true) => Some(Decision::Late),
            Err(RejectReason::Duplicate) => Some(Decision::Duplicate),
            Err(_) => None,
        }
    }

    /// Whether the processor's decision `got` is what this one allows.
    pub fn allows(self, got: Option<Decision>) -> bool {
        match self {
            Decision::LateDuplicate => matches!(got, Some(Decision::Late | Decision::Duplicate)),
            expected => got == Some(expected),
        }
    }
}

#[derive(Debug)]
pub struct Oracle {
    lateness: i64,
    idle: i64,
    max_time: HashMap<String, i64>,
    stream_max: i64,
    seen: HashSet<(String, String)>,
    pub accepted: Vec<Accepted>,
}

pub fn exact(d: tickflow_core::decimal::Decimal) -> Exact {
    Exact::from_i128_with_scale(i128::from(d.units()), 8)
}

impl Oracle {
    pub fn new(lateness: i64, idle: i64) -> Self {
        Oracle {
            lateness,
            idle,
            max_time: HashMap::new(),
            stream_max: i64::MIN,
            seen: HashSet::new(),
            accepted: Vec::new(),
        }
    }

    /// The decision for a trade whose values are valid.
    pub fn offer(&mut self, trade: &Trade<'_>) -> Decision {
        let own = self.max_time.get(trade.instrument_id.as_ref()).copied().unwrap_or(i64::MIN);
        let watermark = own.max(self.stream_max.saturating_sub(self.idle));
        let late = trade.event_time_us < watermark.saturating_sub(self.lateness);
        let first =
            self.seen.insert((trade.instrument_id.to_string(), format!("{:?}{}", trade.venue, trade.trade_key)));
        match (first, late) {
            (false, false) => return Decision::Duplicate,
            (false, true) => return Decision::LateDuplicate,
            (true, true) => return Decision::Late,
            (true, false) => {}
        }
        self.max_time.insert(trade.instrument_id.to_string(), own.max(trade.event_time_us));
        self.stream_max = self.stream_max.max(trade.event_time_us);
        self.accepted.push(Accepted {
            arrival: self.accepted.len(),
            instrument: trade.instrument_id.to_string(),
            time: trade.event_time_us,
            price: exact(trade.price),
            size: exact(trade.size),
            side: trade.side,
            price_only: trade.price_only,
        });
        Decision::OnTime
    }

    /// Every window's candle, from the full list of its trades.
    pub fn candles(&self, length: i64) -> BTreeMap<(String, i64), ExpectedCandle> {
        let mut windows: BTreeMap<(String, i64), Vec<&Accepted>> = BTreeMap::new();
        for trade in self.accepted.iter().filter(|t| !t.price_only) {
            let start = trade.time.div_euclid(length) * length;
            windows.entry((trade.instrument.clone(), start)).or_default().push(trade);
        }
        windows.into_iter().map(|(key, trades)| (key, ExpectedCandle::of(&trades))).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedCandle {
    pub open: Exact,
    pub high: Exact,
    pub low: Exact,
    pub close: Exact,
    pub volume: Exact,
    pub buy_volume: Exact,
    pub sell_volume: Exact,
    pub quote_volume: Exact,
    pub vwap: f64,
    pub trade_count: u64,
    pub first_time: i64,
    pub last_time: i64,
    pub realized_volatility: f64,
}

impl ExpectedCandle {
    fn of(trades: &[&Accepted]) -> Self {
        let by_time = |t: &&&Accepted| (t.time, t.arrival);
        let open = trades.iter().min_by_key(by_time).map(|t| t.price).unwrap_or_default();
        let close = trades.iter().max_by_key(by_time).map(|t| t.price).unwrap_or_default();
        let sum = |pick: &dyn Fn(&Accepted) -> Exact| trades.iter().map(|t| pick(t)).sum::<Exact>();
        let volume = sum(&|t| t.size);
        let quote_volume = sum(&|t| t.price * t.size);
        let mut log_prices = trades.iter().map(|t| t.price.to_f64().unwrap_or(f64::NAN).ln());
        let mut squares = 0.0;
        if let Some(mut previous) = log_prices.next() {
            for log_price in log_prices {
                squares += (log_price - previous) * (log_price - previous);
                previous = log_price;
            }
        }
        ExpectedCandle {
            open,
            high: trades.iter().map(|t| t.price).max().unwrap_or_default(),
            low: trades.iter().map(|t| t.price).min().unwrap_or_default(),
            close,
            volume,
            buy_volume: sum(&|t| if t.side == Side::Buy { t.size } else { Exact::ZERO }),
            sell_volume: sum(&|t| if t.side == Side::Sell { t.size } else { Exact::ZERO }),
            quote_volume,
            vwap: (quote_volume / volume).to_f64().unwrap_or(f64::NAN),
            trade_count: trades.len() as u64,
            first_time: trades.iter().map(|t| t.time).min().unwrap_or_default(),
            last_time: trades.iter().map(|t| t.time).max().unwrap_or_default(),
            realized_volatility: squares.sqrt(),
        }
    }

    /// Compares with a candle from the processor: exact where the contract is exact.
    pub fn check(&self, candle: &Candle) -> Result<(), String> {
        let text = |d: &dyn ToString| d.to_string().parse::<Exact>().unwrap_or_default();
        let exact_fields = [
            ("open", self.open, text(&candle.open)),
            ("high", self.high, text(&candle.high)),
            ("low", self.low, text(&candle.low)),
            ("close", self.close, text(&candle.close)),
            ("volume", self.volume, text(&candle.volume)),
            ("buy_volume", self.buy_volume, text(&candle.buy_volume)),
            ("sell_volume", self.sell_volume, text(&candle.sell_volume)),
            ("quote_volume", self.quote_volume, text(&candle.quote_volume)),
        ];
        for (name, expected, got) in exact_fields {
            if expected != got {
                return Err(format!("{name}: expected {expected}, got {got}"));
            }
        }
        if (self.trade_count, self.first_time, self.last_time)
            != (candle.trade_count, candle.first_event_time_us, candle.last_event_time_us)
        {
            return Err(format!("count/times: expected {self:?}, got {candle:?}"));
        }
        if (candle.vwap - self.vwap).abs() > 1e-12 * self.vwap.abs() {
            return Err(format!("vwap: expected {}, got {}", self.vwap, candle.vwap));
        }
        if (candle.realized_volatility - self.realized_volatility).abs() > 1e-9 * self.realized_volatility.max(1e-12) {
            return Err(format!(
                "realized volatility: expected {}, got {}",
                self.realized_volatility, candle.realized_volatility
            ));
        }
        Ok(())
    }
}
