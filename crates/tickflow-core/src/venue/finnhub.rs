//! Finnhub: `{"type":"trade","data":[{"s":"AAPL","p":129.58,"t":1672348887666,"v":1,"c":["1","24"]}]}`.
//! Prices and volumes are JSON numbers, read from their text so no float rounding creeps in.
//! `v = 0` is a price-only update. There is no trade id and no side: the identity is a hash of
//! the whole frame and the trade's position in it, so a frame the venue sends again (Finnhub
//! repeats whole frames) repeats its trades' identities, while two equal trades (symbol,
//! millisecond, price, size) in different frames stay two trades.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use xxhash_rust::xxh3::Xxh3;

use super::{NormalizeContext, VenueFrame, hex16, millis_to_micros, schema_error, trade_key};
use crate::contract::{Rejection, Side, Trade, Venue};
use crate::validate::{Text, from_json, json_rejection, parse_price, parse_size};

/// A frame whose trades are `T`: parsed with the frame, or kept raw to be parsed one by one.
#[derive(Deserialize)]
struct Frame<'a, T> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    msg: Option<String>,
}

#[derive(Deserialize)]
struct FinnhubTrade<'a> {
    #[serde(borrow)]
    s: Text<'a>,
    #[serde(borrow)]
    p: &'a RawValue,
    t: i64,
    #[serde(borrow)]
    v: &'a RawValue,
    #[serde(borrow, default)]
    c: Option<Vec<Text<'a>>>,
}

/// Reads the frame and its trades in one pass; a frame with a trade that does not read is read
/// again with its trades kept raw, so that only that trade is refused.
pub fn normalize_finnhub<'a>(bytes: &'a [u8], context: &NormalizeContext<'a>) -> Result<VenueFrame<'a>, Rejection> {
    if let Some(frame) = from_json::<Frame<'a, FinnhubTrade<'a>>>(bytes) {
        return Ok(classify(bytes, frame.kind, frame.msg, frame.data.into_iter().map(Ok), context));
    }
    let frame: Frame<'a, &'a RawValue> = from_json(bytes).ok_or_else(|| json_rejection(bytes))?;
    let trades = frame.data.into_iter().map(|raw| {
        serde_json::from_str::<FinnhubTrade<'a>>(raw.get()).map_err(|_| json_rejection(raw.get().as_bytes()))
    });
    Ok(classify(bytes, frame.kind, frame.msg, trades, context))
}

fn classify<'a>(
    bytes: &'a [u8],
    kind: Option<Text<'a>>,
    msg: Option<String>,
    trades: impl Iterator<Item = Result<FinnhubTrade<'a>, Rejection>>,
    context: &NormalizeContext<'a>,
) -> VenueFrame<'a> {
    match kind.as_ref().map(|k| k.0.as_ref()) {
        Some("trade") => {
            let frame_hash = xxhash_rust::xxh3::xxh3_64(bytes);
            let trades = trades
                .enumerate()
                .map(|(position, trade)| normalize_trade(trade?, (frame_hash, position as u64), context))
                .collect();
            VenueFrame::Trades { trades, sequence: None, snapshot: false }
        }
        Some("ping") => VenueFrame::Ping,
        Some("error") => VenueFrame::VenueError { message: msg.unwrap_or_default() },
        _ => VenueFrame::Ignored,
    }
}

/// `place`: the hash of the frame's bytes and the trade's position in it.
fn normalize_trade<'a>(
    trade: FinnhubTrade<'a>,
    place: (u64, u64),
    context: &NormalizeContext<'a>,
) -> Result<Trade<'a>, Rejection> {
    if trade.s.0.is_empty() {
        return Err(schema_error("symbol must not be empty"));
    }
    let price = parse_price(trade.p.get())?;
    let size = parse_size(trade.v.get())?;
    let conditions: Vec<Cow<'a, str>> = trade.c.unwrap_or_default().into_iter().map(|c| c.0).collect();
    let mut identity = Xxh3::new();
    identity.update(&place.0.to_le_bytes());
    identity.update(&place.1.to_le_bytes());
    let identity = hex16(identity.digest());
    let identity = std::str::from_utf8(&identity).unwrap_or_default(); // hex digits are ASCII

    let instrument_id = context.instrument_id(Venue::Finnhub, &trade.s.0)?;
    context.finish(Trade {
        trade_key: Cow::Owned(trade_key(Venue::Finnhub, &trade.s.0, &[itoa::Buffer::new().format(trade.t), identity])),
        venue: Venue::Finnhub,
        venue_symbol: trade.s.0,
        instrument_id,
        trade_id: None,
        price,
        size,
        side: Side::Unknown,
        conditions,
        price_only: size.units() == 0,
        event_time_us: millis_to_micros(trade.t),
        receive_time_us: context.receive_time_us,
    })
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    data: Option<Vec<SymbolTime<'a>>>,
    msg: Option<String>,
}

#[derive(Deserialize)]
struct SymbolTime<'a> {
    #[serde(borrow)]
    s: Text<'a>,
    t: i64,
}

/// What a Finnhub client needs to know of a message, decided on its parsed `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinnhubMessage {
    Trades,
    Ping,
    /// The venue's `{"type":"error","msg":...}`.
    Error(String),
    /// Another type, or none.
    Other,
    /// Not JSON of the expected shape (the producer dead-letters it).
    Unreadable,
}

/// Reads a Finnhub message once: its type, and for a trade frame calls `each(symbol, event time
/// in µs)` for every trade (what the client tracks to bound what an outage may have lost).
pub fn finnhub_message(frame: &[u8], mut each: impl FnMut(&str, i64)) -> FinnhubMessage {
    let Some(envelope) = from_json::<Envelope<'_>>(frame) else { return FinnhubMessage::Unreadable };
    match envelope.kind.as_ref().map(|k| k.0.as_ref()) {
        Some("trade") => {
            for trade in envelope.data.iter().flatten() {
                each(&trade.s.0, millis_to_micros(trade.t));
            }
            FinnhubMessage::Trades
        }
        Some("ping") => FinnhubMessage::Ping,
        Some("error") => FinnhubMessage::Error(envelope.msg.unwrap_or_default()),
        _ => FinnhubMessage::Other,
    }
}

/// [`finnhub_message`] of a frame that normalized as `normalized`: read from its trades when all
/// of them were accepted, read again otherwise.
pub fn finnhub_message_of<'a>(
    frame: &'a [u8],
    normalized: &Result<VenueFrame<'a>, Rejection>,
    mut each: impl FnMut(&str, i64),
) -> FinnhubMessage {
    match normalized {
        Ok(VenueFrame::Trades { trades, .. }) if trades.iter().all(Result::is_ok) => {
            for trade in trades.iter().flatten() {
                each(&trade.venue_symbol, trade.event_time_us);
            }
            FinnhubMessage::Trades
        }
        Ok(VenueFrame::Ping) => FinnhubMessage::Ping,
        Ok(VenueFrame::VenueError { message }) => FinnhubMessage::Error(message.clone()),
        _ => finnhub_message(frame, each),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_type_is_read_from_the_json_whatever_its_spacing() {
        let kind = |text: &str| finnhub_message(text.as_bytes(), |_, _| {});
        assert_eq!(kind(r#"{"type":"ping"}"#), FinnhubMessage::Ping);
        assert_eq!(kind("{ \"type\" :\n \"ping\" }"), FinnhubMessage::Ping);
        assert_eq!(
            kind(r#"{"msg": "Subscribing to too many symbols", "type": "error"}"#),
            FinnhubMessage::Error("Subscribing to too many symbols".into())
        );
        assert_eq!(kind(r#"{"type":"news"}"#), FinnhubMessage::Other);
        assert_eq!(kind(r#"{"type":"pi"#), FinnhubMessage::Unreadable);
        let mut times = Vec::new();
        let trades = finnhub_message(
            br#"{"data": [{"s":"AAPL","p":1.5,"t":1000,"v":1,"c":null},{"s":"MSFT","p":2,"t":2000,"v":0}], "type": "trade"}"#,
            |symbol, time| times.push((symbol.to_owned(), time)),
        );
        assert_eq!(trades, FinnhubMessage::Trades);
        assert_eq!(times, [("AAPL".to_owned(), 1_000_000), ("MSFT".to_owned(), 2_000_000)]);
        // A frame mentioning "ping" in a string is not a ping.
        assert_eq!(
            kind(r#"{"type":"error","msg":"\"type\":\"ping\""}"#),
            FinnhubMessage::Error(r#""type":"ping""#.into())
        );
    }
}
