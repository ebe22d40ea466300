//! Venue frames normalized into the trade contract. Each venue module turns the bytes of one
//! WebSocket text frame into a [`VenueFrame`]; trades in it are checked like any other trade,
//! one by one, so one bad trade in a batch costs only itself.

mod binance;
mod coinbase;
mod finnhub;

use std::borrow::Cow;

pub use binance::{BinanceEvent, BinanceRestTrade, binance_event, binance_stream_path, normalize_binance};
pub use coinbase::{
    aggressor_side as coinbase_aggressor_side, normalize_coinbase, reported_side as coinbase_reported_side,
};
pub use finnhub::{FinnhubMessage, finnhub_message, finnhub_message_of, normalize_finnhub};

use crate::contract::{RejectReason, Rejection, Trade, Venue};
use crate::reference::ReferenceData;
use crate::validate::{TOO_LARGE, ValidationRules, check_values};

/// What one frame from a venue said.
#[derive(Debug, Clone, PartialEq)]
pub enum VenueFrame<'a> {
    /// Trades (each one checked on its own). `sequence` is the venue's per-connection message
    /// counter where it has one (Coinbase); `snapshot` marks a replay of recent trades.
    Trades { trades: Vec<Result<Trade<'a>, Rejection>>, sequence: Option<u64>, snapshot: bool },
    /// An application-level ping (Finnhub `{"type":"ping"}`).
    Ping,
    /// A heartbeat that keeps a subscription open (Coinbase `heartbeats`).
    Heartbeat { sequence: Option<u64> },
    /// A subscription acknowledgement.
    Subscribed,
    /// An error reported by the venue, e.g. Finnhub's "Subscribing to too many symbols".
    VenueError { message: String },
    /// The venue announced maintenance (Binance `serverShutdown`): reconnect now.
    ServerShutdown,
    /// A frame of a kind tickflow does not use.
    Ignored,
}

/// Everything a normalizer needs besides the frame.
#[derive(Debug, Clone, Copy)]
pub struct NormalizeContext<'r> {
    pub reference: &'r ReferenceData,
    pub rules: &'r ValidationRules,
    /// When the frame was received, microseconds since the epoch, UTC.
    pub receive_time_us: i64,
}

/// Normalizes one frame from `venue`.
pub fn normalize<'a>(
    venue: Venue,
    frame: &'a [u8],
    context: &NormalizeContext<'a>,
) -> Result<VenueFrame<'a>, Rejection> {
    if frame.len() > context.rules.max_message_bytes {
        return Err(TOO_LARGE);
    }
    match venue {
        Venue::Finnhub => normalize_finnhub(frame, context),
        Venue::Binance => normalize_binance(frame, context),
        Venue::Coinbase => normalize_coinbase(frame, context),
    }
}

impl<'r> NormalizeContext<'r> {
    /// The unified instrument id of a venue symbol (borrowed from the reference data), or
    /// `unknown_symbol`.
    fn instrument_id(&self, venue: Venue, venue_symbol: &str) -> Result<Cow<'r, str>, Rejection> {
        self.reference
            .by_venue_symbol(venue, venue_symbol)
            .map(|instrument| Cow::Borrowed(instrument.id.as_str()))
            .ok_or(Rejection::new(RejectReason::UnknownSymbol, "venue symbol is not in the reference data"))
    }

    /// Final checks shared by every venue.
    fn finish<'a>(&self, trade: Trade<'a>) -> Result<Trade<'a>, Rejection> {
        check_values(&trade, self.rules)?;
        Ok(trade)
    }
}

/// A trade key, `<venue>:<symbol>:` followed by `parts` joined by `:`, built without the
/// formatting machinery (one is made for every trade).
fn trade_key(venue: Venue, symbol: &str, parts: &[&str]) -> String {
    let length = parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut key = String::with_capacity(venue.as_str().len() + 1 + symbol.len() + length);
    key.push_str(venue.as_str());
    key.push(':');
    key.push_str(symbol);
    for part in parts {
        key.push(':');
        key.push_str(part);
    }
    key
}

/// `value` as 16 lowercase hex digits (what `{value:016x}` writes).
fn hex16(value: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    std::array::from_fn(|at| DIGITS[((value >> (60 - 4 * at)) & 0xf) as usize])
}

/// Milliseconds since the epoch to microseconds, saturating so range checks catch nonsense.
fn millis_to_micros(millis: i64) -> i64 {
    millis.saturating_mul(1_000)
}

fn schema_error(detail: &'static str) -> Rejection {
    Rejection::new(RejectReason::SchemaError, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_keys_are_what_format_would_write() {
        for value in [0, 1, 0xabc, 0x0123_4567_89ab_cdef, u64::MAX, 1 << 63] {
            assert_eq!(std::str::from_utf8(&hex16(value)), Ok(format!("{value:016x}").as_str()));
        }
        assert_eq!(trade_key(Venue::Binance, "BTCUSDT", &["42"]), "binance:BTCUSDT:42");
        assert_eq!(trade_key(Venue::Finnhub, "AAPL", &["1000", "00ff"]), "finnhub:AAPL:1000:00ff");
        assert_eq!(trade_key(Venue::Coinbase, "", &[]), "coinbase:");
    }
}
