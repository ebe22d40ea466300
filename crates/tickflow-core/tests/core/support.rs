//! Builders shared by the tests.

use std::borrow::Cow;

use tickflow_core::contract::{Metric, Side, Trade, Venue};
use tickflow_core::decimal::Decimal;
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;

pub const T0: i64 = 1_700_000_000_000_000; // 2023-11-14T22:13:20Z, a multiple of 1 min

pub fn reference() -> ReferenceData {
    ReferenceData::bundled().expect("bundled reference data parses")
}

pub fn processor(config: ProcessorConfig) -> StreamProcessor {
    StreamProcessor::new(config, reference()).expect("valid config")
}

/// A Binance-style BTC-USDT trade with the given id, event time, price and size.
pub fn trade(id: u64, event_time_us: i64, price: &str, size: &str) -> Trade<'static> {
    trade_on("BTC-USDT", "BTCUSDT", id, event_time_us, price, size)
}

pub fn trade_on(
    instrument: &str,
    symbol: &str,
    id: u64,
    event_time_us: i64,
    price: &str,
    size: &str,
) -> Trade<'static> {
    Trade {
        trade_key: Cow::Owned(format!("binance:{symbol}:{id}")),
        venue: Venue::Binance,
        venue_symbol: Cow::Owned(symbol.to_owned()),
        instrument_id: Cow::Owned(instrument.to_owned()),
        trade_id: Some(Cow::Owned(id.to_string())),
        price: Decimal::parse(price).expect("test price"),
        size: Decimal::parse(size).expect("test size"),
        side: if id.is_multiple_of(2) { Side::Buy } else { Side::Sell },
        conditions: Vec::new(),
        price_only: false,
        event_time_us,
        receive_time_us: event_time_us + 1_000,
    }
}

pub fn bytes(trade: &Trade<'_>) -> Vec<u8> {
    serde_json::to_vec(trade).expect("trades serialize")
}

pub fn candles(metrics: &[Metric]) -> Vec<&tickflow_core::contract::Candle> {
    metrics
        .iter()
        .filter_map(|m| match m {
            Metric::Candle(c) => Some(c),
            Metric::Anomaly(_) | Metric::FeedGap(_) => None,
        })
        .collect()
}
