//! The accumulator of one candle: constant-size state, whatever the number of trades.

use smol_str::SmolStr;

use crate::contract::{Candle, Side};
use crate::decimal::{Decimal, Notional, Volume};

/// What a window needs to know of one trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    pub event_time_us: i64,
    /// Arrival order on the input stream; breaks ties between equal event times.
    pub arrival: u64,
    pub price: Decimal,
    pub size: Decimal,
    pub side: Side,
    /// `ln(price)`, computed once per trade and shared by every window length.
    pub log_price: f64,
}

/// Its length is the series', passed in where it is needed: a window keeps no copy of it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CandleBuilder {
    start_us: i64,
    /// The first and last trade by (event time, arrival), with its price: their event times are
    /// the candle's first and last event times.
    open: (i64, u64, Decimal),
    close: (i64, u64, Decimal),
    high: Decimal,
    low: Decimal,
    volume: i128,
    buy_volume: i128,
    sell_volume: i128,
    quote_volume: i128,
    trade_count: u64,
    sum_squared_log_returns: f64,
    last_arrival_log_price: f64,
}

impl CandleBuilder {
    pub fn new(start_us: i64, first: &Tick) -> Self {
        let key = (first.event_time_us, first.arrival, first.price);
        let size = i128::from(first.size.units());
        CandleBuilder {
            start_us,
            open: key,
            close: key,
            high: first.price,
            low: first.price,
            volume: size,
            buy_volume: if first.side == Side::Buy { size } else { 0 },
            sell_volume: if first.side == Side::Sell { size } else { 0 },
            quote_volume: first.price.mul_exact(first.size).units(),
            trade_count: 1,
            sum_squared_log_returns: 0.0,
            last_arrival_log_price: first.log_price,
        }
    }

    pub fn start_us(&self) -> i64 {
        self.start_us
    }

    pub fn end_us(&self, length_us: i64) -> i64 {
        self.start_us.saturating_add(length_us)
    }

    pub fn add(&mut self, tick: &Tick) {
        let key = (tick.event_time_us, tick.arrival, tick.price);
        if (key.0, key.1) < (self.open.0, self.open.1) {
            self.open = key;
        }
        if (key.0, key.1) > (self.close.0, self.close.1) {
            self.close = key;
        }
        self.high = self.high.max(tick.price);
        self.low = self.low.min(tick.price);
        let size = i128::from(tick.size.units());
        self.volume += size;
        match tick.side {
            Side::Buy => self.buy_volume += size,
            Side::Sell => self.sell_volume += size,
            Side::Unknown => {}
        }
        self.quote_volume = self.quote_volume.saturating_add(tick.price.mul_exact(tick.size).units());
        self.trade_count += 1;
        let log_return = tick.log_price - self.last_arrival_log_price;
        self.sum_squared_log_returns += log_return * log_return;
        self.last_arrival_log_price = tick.log_price;
    }

    pub fn to_candle(&self, instrument_id: &SmolStr, length_us: i64, revision: u32, is_final: bool) -> Candle {
        let volume = Volume::from_units(self.volume);
        let quote_volume = Notional::from_units(self.quote_volume);
        Candle {
            instrument_id: instrument_id.clone(),
            window_start_us: self.start_us,
            window_length_us: length_us,
            open: self.open.2,
            high: self.high,
            low: self.low,
            close: self.close.2,
            volume,
            quote_volume,
            vwap: vwap(quote_volume, volume),
            trade_count: self.trade_count,
            buy_volume: Volume::from_units(self.buy_volume),
            sell_volume: Volume::from_units(self.sell_volume),
            realized_volatility: self.sum_squared_log_returns.sqrt(),
            first_event_time_us: self.open.0,
            last_event_time_us: self.close.0,
            revision,
            is_final,
        }
    }
}

/// `quote_volume / volume` from the exact sums: one rounding, in the final division.
pub fn vwap(quote_volume: Notional, volume: Volume) -> f64 {
    if volume.units() == 0 {
        return 0.0;
    }
    // quote has 16 fractional digits and volume 8, so the ratio of units is price * 1e8.
    let whole = quote_volume.units() / volume.units();
    let remainder = quote_volume.units() % volume.units();
    (whole as f64 + remainder as f64 / volume.units() as f64) / 1e8
}
