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
use crate::scan::Scan;
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

/// One trade's fields as a frame gives them, read by serde or by [`trade_frame`].
#[derive(Debug, PartialEq)]
struct TradeFields<'a> {
    symbol: Cow<'a, str>,
    /// The price's JSON number, as written.
    price: &'a str,
    time_ms: i64,
    /// The volume's JSON number, as written.
    volume: &'a str,
    conditions: Vec<Cow<'a, str>>,
}

impl<'a> From<FinnhubTrade<'a>> for TradeFields<'a> {
    fn from(trade: FinnhubTrade<'a>) -> Self {
        TradeFields {
            symbol: trade.s.0,
            price: trade.p.get(),
            time_ms: trade.t,
            volume: trade.v.get(),
            conditions: trade.c.unwrap_or_default().into_iter().map(|c| c.0).collect(),
        }
    }
}

/// Reads the frame and its trades in one pass (a trade frame in its plain form without serde,
/// see [`trade_frame`]); a frame with a trade that does not read is read again with its trades
/// kept raw, so that only that trade is refused.
pub fn normalize_finnhub<'a>(bytes: &'a [u8], context: &NormalizeContext<'a>) -> Result<VenueFrame<'a>, Rejection> {
    if let Some(trades) = trade_frame(bytes) {
        return Ok(trades_of(bytes, trades.into_iter().map(Ok), context));
    }
    if let Some(frame) = from_json::<Frame<'a, FinnhubTrade<'a>>>(bytes) {
        return Ok(classify(bytes, frame.kind, frame.msg, frame.data.into_iter().map(|t| Ok(t.into())), context));
    }
    let frame: Frame<'a, &'a RawValue> = from_json(bytes).ok_or_else(|| json_rejection(bytes))?;
    let trades = frame.data.into_iter().map(|raw| {
        serde_json::from_str::<FinnhubTrade<'a>>(raw.get())
            .map(TradeFields::from)
            .map_err(|_| json_rejection(raw.get().as_bytes()))
    });
    Ok(classify(bytes, frame.kind, frame.msg, trades, context))
}

/// The trades of a `{"type":"trade","data":[...]}` frame in plain JSON (keys in any order, no
/// whitespace, no escapes; each trade `s`, `p`, `t`, `v` and an optional `c`), read without
/// serde; `None` for any other frame or form, which serde reads.
fn trade_frame(bytes: &[u8]) -> Option<Vec<TradeFields<'_>>> {
    let mut scan = Scan::new(bytes)?;
    let (mut is_trade, mut trades) = (None, None);
    scan.object(|key, scan| {
        match key {
            "type" if is_trade.is_none() => is_trade = Some(scan.quoted()? == "trade"),
            "data" if trades.is_none() => trades = Some(scan.list(read_trade)?),
            _ => return None,
        }
        Some(())
    })?;
    if !(is_trade == Some(true) && scan.is_done()) {
        return None;
    }
    trades
}

fn read_trade<'a>(scan: &mut Scan<'a>) -> Option<TradeFields<'a>> {
    let (mut symbol, mut price, mut time_ms, mut volume, mut conditions) = (None, None, None, None, None);
    scan.object(|key, scan| {
        match key {
            "s" if symbol.is_none() => symbol = Some(scan.quoted()?),
            "p" if price.is_none() => price = Some(scan.number()?),
            "t" if time_ms.is_none() => time_ms = Some(scan.signed()?),
            "v" if volume.is_none() => volume = Some(scan.number()?),
            "c" if conditions.is_none() => {
                conditions = Some(match scan.literal(b"null") {
                    Some(()) => Vec::new(),
                    None => scan.list(|scan| scan.quoted().map(Cow::Borrowed))?,
                });
            }
            _ => return None,
        }
        Some(())
    })?;
    Some(TradeFields {
        symbol: Cow::Borrowed(symbol?),
        price: price?,
        time_ms: time_ms?,
        volume: volume?,
        conditions: conditions.unwrap_or_default(),
    })
}

fn classify<'a>(
    bytes: &'a [u8],
    kind: Option<Text<'a>>,
    msg: Option<String>,
    trades: impl Iterator<Item = Result<TradeFields<'a>, Rejection>>,
    context: &NormalizeContext<'a>,
) -> VenueFrame<'a> {
    match kind.as_ref().map(|k| k.0.as_ref()) {
        Some("trade") => trades_of(bytes, trades, context),
        Some("ping") => VenueFrame::Ping,
        Some("error") => VenueFrame::VenueError { message: msg.unwrap_or_default() },
        _ => VenueFrame::Ignored,
    }
}

/// The trades of a trade frame, each normalized with its place in the frame.
fn trades_of<'a>(
    bytes: &'a [u8],
    trades: impl Iterator<Item = Result<TradeFields<'a>, Rejection>>,
    context: &NormalizeContext<'a>,
) -> VenueFrame<'a> {
    let frame_hash = xxhash_rust::xxh3::xxh3_64(bytes);
    let trades = trades
        .enumerate()
        .map(|(position, trade)| normalize_trade(trade?, (frame_hash, position as u64), context))
        .collect();
    VenueFrame::Trades { trades, sequence: None, snapshot: false }
}

/// `place`: the hash of the frame's bytes and the trade's position in it.
fn normalize_trade<'a>(
    trade: TradeFields<'a>,
    place: (u64, u64),
    context: &NormalizeContext<'a>,
) -> Result<Trade<'a>, Rejection> {
    if trade.symbol.is_empty() {
        return Err(schema_error("symbol must not be empty"));
    }
    let price = parse_price(trade.price)?;
    let size = parse_size(trade.volume)?;
    let mut identity = Xxh3::new();
    identity.update(&place.0.to_le_bytes());
    identity.update(&place.1.to_le_bytes());
    let identity = hex16(identity.digest());
    let identity = std::str::from_utf8(&identity).unwrap_or_default(); // hex digits are ASCII

    let instrument_id = context.instrument_id(Venue::Finnhub, &trade.symbol)?;
    context.finish(Trade {
        trade_key: Cow::Owned(trade_key(
            Venue::Finnhub,
            &trade.symbol,
            &[itoa::Buffer::new().format(trade.time_ms), identity],
        )),
        venue: Venue::Finnhub,
        venue_symbol: trade.symbol,
        instrument_id,
        trade_id: None,
        price,
        size,
        side: Side::Unknown,
        conditions: trade.conditions,
        price_only: size.units() == 0,
        event_time_us: millis_to_micros(trade.time_ms),
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

#[cfg(test)]
mod reader_tests {
    use proptest::prelude::*;

    use super::{FinnhubTrade, Frame, TradeFields, from_json, trade_frame};
    use crate::scan::testing::mutated;

    /// What serde reads of a trade frame, as the fixed-form reader gives it.
    fn by_serde(frame: &str) -> Option<Vec<TradeFields<'_>>> {
        let frame = from_json::<Frame<'_, FinnhubTrade<'_>>>(frame.as_bytes())?;
        (frame.kind.is_some_and(|k| k.0 == "trade") && frame.msg.is_none())
            .then(|| frame.data.into_iter().map(TradeFields::from).collect())
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "\"[A-Z:]{0,8}\"",
            3 => any::<i64>().prop_map(|n| n.to_string()),
            3 => any::<f64>().prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec!["null", "[\"1\",\"24\"]", "[]", "\"a\\\"b\"", "-0", "1e3", "017", "[1]", "\"é\""]).prop_map(String::from),
        ]
    }

    /// A trade's fields in some order, each mostly of its own type, sometimes any value; and
    /// sometimes a field dropped or an unknown one added.
    fn fields() -> impl Strategy<Value = Vec<(&'static str, String)>> {
        let typed = |key: &'static str| -> BoxedStrategy<(&'static str, String)> {
            let own: BoxedStrategy<String> = match key {
                "s" => "\"[A-Z:]{0,8}\"".boxed(),
                "t" => any::<i64>().prop_map(|n| n.to_string()).boxed(),
                "c" => prop::sample::select(vec!["null", "[\"1\",\"24\"]", "[]"]).prop_map(String::from).boxed(),
                _ => prop_oneof![any::<f64>().prop_map(|n| n.to_string()), any::<u32>().prop_map(|n| n.to_string())]
                    .boxed(),
            };
            prop_oneof![6 => own, 1 => value()].prop_map(move |v| (key, v)).boxed()
        };
        let keys = Just(vec!["s", "p", "t", "v", "c"]).prop_shuffle();
        (keys, 3..7usize).prop_flat_map(move |(keys, n)| {
            let mut keys = keys;
            keys.push("x");
            keys.truncate(n);
            keys.into_iter().map(typed).collect::<Vec<_>>()
        })
    }

    prop_compose! {
        fn frame()(
            trades in prop::collection::vec(fields(), 0..3),
            kind in prop::sample::select(vec!["\"trade\"", "\"ping\"", "null"]), data_first in any::<bool>(),
        ) -> String {
            let trades: Vec<String> = trades.iter().map(|fields| {
                let fields: Vec<String> = fields.iter().map(|(key, value)| format!("\"{key}\":{value}")).collect();
                format!("{{{}}}", fields.join(","))
            }).collect();
            let data = format!("\"data\":[{}]", trades.join(","));
            let kind = format!("\"type\":{kind}");
            if data_first { format!("{{{data},{kind}}}") } else { format!("{{{kind},{data}}}") }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        /// The fixed-form reader reads a frame's trades exactly as serde reads them, or leaves
        /// the frame to serde.
        #[test]
        fn the_trade_frame_reader_agrees_with_serde(frame in mutated(frame())) {
            if let Some(trades) = trade_frame(frame.as_bytes()) {
                prop_assert_eq!(Some(trades), by_serde(&frame), "{}", frame);
            }
        }
    }

    /// Finnhub's frames as its documentation shows them, and as the simulator writes them, take
    /// the fixed-form reader.
    #[test]
    fn finnhub_trade_frames_take_the_fixed_form_reader() {
        for frame in [
            r#"{"data":[{"p":7296.89,"s":"BINANCE:BTCUSDT","t":1575526691134,"v":0.011467}],"type":"trade"}"#,
            r#"{"type":"trade","data":[{"s":"AAPL","p":129.58,"t":1672348887666,"v":1,"c":["1","24","12"]},{"s":"MSFT","p":2,"t":1,"v":0,"c":null}]}"#,
        ] {
            let trades = trade_frame(frame.as_bytes()).expect("read without serde");
            assert_eq!(Some(trades), by_serde(frame), "{frame}");
        }
        for frame in [r#"{"type":"ping"}"#, r#"{"type":"trade"}"#, r#"{"type":"trade","type":"trade","data":[]}"#] {
            assert_eq!(trade_frame(frame.as_bytes()), None, "{frame}");
        }
    }
}
