//! Binance spot `@trade` streams, raw (`{"e":"trade",...}`) or combined
//! (`{"stream":"btcusdt@trade","data":{...}}`). `t` is the per-symbol trade id, `p`/`q` decimal
//! strings, `T` the trade time in ms, `m` "buyer is maker", so the aggressor sold when it is true.

use std::borrow::Cow;

use serde::Deserialize;

use super::{NormalizeContext, VenueFrame, millis_to_micros, schema_error, trade_key};
use crate::contract::{Rejection, Side, Trade, Venue};
use crate::scan::Scan;
use crate::validate::{Text, from_json, json_rejection, parse_price, parse_size};

#[derive(Deserialize)]
struct Message<'a> {
    /// The payload of a combined-stream wrapper, read in the same pass as the wrapper.
    #[serde(borrow)]
    data: Option<Box<Message<'a>>>,
    #[serde(rename = "e", borrow)]
    event: Option<Text<'a>>,
    #[serde(borrow)]
    s: Option<Text<'a>>,
    t: Option<u64>,
    #[serde(borrow)]
    p: Option<Text<'a>>,
    #[serde(borrow)]
    q: Option<Text<'a>>,
    #[serde(rename = "T")]
    trade_time_ms: Option<i64>,
    m: Option<bool>,
    /// A request's answer (`{"result":null,"id":1}`): only whether it is there matters.
    id: Option<serde::de::IgnoredAny>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    msg: String,
}

pub fn normalize_binance<'a>(frame: &'a [u8], context: &NormalizeContext<'a>) -> Result<VenueFrame<'a>, Rejection> {
    let message = read_message(frame).ok_or_else(|| json_rejection(frame))?;
    classify(message, context)
}

/// A frame read as a [`Message`]: a trade frame in the stream's own form by [`trade_frame`],
/// anything else by serde.
fn read_message(frame: &[u8]) -> Option<Message<'_>> {
    trade_frame(frame).or_else(|| from_json(frame))
}

/// A trade frame exactly as Binance's streams write it, raw or in the combined-stream wrapper
/// (`{"e":"trade","E":..,"s":"..","t":..,"p":"..","q":"..","T":..,"m":..,"M":..}`, `M`
/// optional), read without serde; `None` for any other frame, or any other spelling of one.
fn trade_frame(frame: &[u8]) -> Option<Message<'_>> {
    let mut scan = Scan::new(frame)?;
    let wrapped = scan.literal(br#"{"stream":""#).is_some();
    if wrapped {
        scan.string()?;
        scan.literal(br#","data":"#)?;
    }
    scan.literal(br#"{"e":"trade","E":"#)?;
    scan.signed()?;
    scan.literal(br#","s":""#)?;
    let symbol = scan.string()?;
    scan.literal(br#","t":"#)?;
    let trade_id = scan.unsigned()?;
    scan.literal(br#","p":""#)?;
    let price = scan.string()?;
    scan.literal(br#","q":""#)?;
    let size = scan.string()?;
    scan.literal(br#","T":"#)?;
    let trade_time_ms = scan.signed()?;
    scan.literal(br#","m":"#)?;
    let buyer_is_maker = scan.bool()?;
    if scan.literal(br#","M":"#).is_some() {
        scan.bool()?;
    }
    scan.literal(if wrapped { b"}}" } else { b"}" })?;
    scan.is_done().then_some(Message {
        data: None,
        event: Some(Text(Cow::Borrowed("trade"))),
        s: Some(Text(Cow::Borrowed(symbol))),
        t: Some(trade_id),
        p: Some(Text(Cow::Borrowed(price))),
        q: Some(Text(Cow::Borrowed(size))),
        trade_time_ms: Some(trade_time_ms),
        m: Some(buyer_is_maker),
        id: None,
        error: None,
    })
}

fn classify<'a>(message: Message<'a>, context: &NormalizeContext<'a>) -> Result<VenueFrame<'a>, Rejection> {
    if let Some(inner) = message.data {
        return classify(*inner, context);
    }
    if let Some(error) = message.error {
        return Ok(VenueFrame::VenueError { message: error.msg });
    }
    Ok(match message.event.as_ref().map(|e| e.0.as_ref()) {
        Some("trade") => {
            VenueFrame::Trades { trades: vec![normalize_trade(message, context)], sequence: None, snapshot: false }
        }
        Some("serverShutdown") => VenueFrame::ServerShutdown,
        None if message.id.is_some() => VenueFrame::Subscribed,
        _ => VenueFrame::Ignored,
    })
}

fn normalize_trade<'a>(message: Message<'a>, context: &NormalizeContext<'a>) -> Result<Trade<'a>, Rejection> {
    let (Some(symbol), Some(trade_id), Some(price), Some(size), Some(trade_time_ms)) =
        (message.s, message.t, message.p, message.q, message.trade_time_ms)
    else {
        return Err(schema_error("a trade needs s, t, p, q and T"));
    };
    if symbol.0.is_empty() {
        return Err(schema_error("symbol must not be empty"));
    }
    let side = match message.m {
        Some(true) => Side::Sell,
        Some(false) => Side::Buy,
        None => Side::Unknown,
    };
    let instrument_id = context.instrument_id(Venue::Binance, &symbol.0)?;
    let trade_id = itoa::Buffer::new().format(trade_id).to_owned();
    context.finish(Trade {
        trade_key: Cow::Owned(trade_key(Venue::Binance, &symbol.0, &[&trade_id])),
        venue: Venue::Binance,
        instrument_id,
        trade_id: Some(Cow::Owned(trade_id)),
        price: parse_price(&price.0)?,
        size: parse_size(&size.0)?,
        venue_symbol: symbol.0,
        side,
        conditions: Vec::new(),
        price_only: false,
        event_time_us: millis_to_micros(trade_time_ms),
        receive_time_us: context.receive_time_us,
    })
}

/// What a frame means for the connection that received it, read without normalizing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinanceEvent<'a> {
    /// A trade, with its symbol, per-symbol trade id and trade time (for gap tracking).
    Trade {
        symbol: Cow<'a, str>,
        id: u64,
        time_us: i64,
    },
    /// Maintenance announced: reconnect now.
    ServerShutdown,
    Other,
}

pub fn binance_event(frame: &[u8]) -> BinanceEvent<'_> {
    let Some(mut message) = read_message(frame) else { return BinanceEvent::Other };
    if let Some(inner) = message.data {
        message = *inner;
    }
    match (message.event.as_ref().map(|e| e.0.as_ref()), message.s, message.t) {
        (Some("trade"), Some(symbol), Some(id)) => BinanceEvent::Trade {
            symbol: symbol.0,
            id,
            time_us: millis_to_micros(message.trade_time_ms.unwrap_or_default()),
        },
        (Some("serverShutdown"), _, _) => BinanceEvent::ServerShutdown,
        _ => BinanceEvent::Other,
    }
}

impl<'a> BinanceEvent<'a> {
    /// What a frame that normalized as `normalized` means, read from its trade when it was
    /// accepted; a frame that was refused, or whose trade was, is read again with
    /// [`binance_event`], which needs less of a trade.
    pub fn of(frame: &'a [u8], normalized: &Result<VenueFrame<'a>, Rejection>) -> Self {
        match normalized {
            Ok(VenueFrame::Trades { trades, .. }) => {
                if let [Ok(trade)] = trades.as_slice()
                    && let Some(id) = trade.trade_id.as_deref().and_then(|id| id.parse().ok())
                {
                    return BinanceEvent::Trade {
                        symbol: trade.venue_symbol.clone(),
                        id,
                        time_us: trade.event_time_us,
                    };
                }
                binance_event(frame)
            }
            Ok(VenueFrame::ServerShutdown) => BinanceEvent::ServerShutdown,
            Ok(_) => BinanceEvent::Other,
            Err(_) => binance_event(frame),
        }
    }
}

/// The combined-stream path of the `@trade` streams of `symbols`: `/stream?streams=btcusdt@trade/...`.
pub fn binance_stream_path(symbols: &[String]) -> String {
    let streams: Vec<String> = symbols.iter().map(|s| format!("{}@trade", s.to_lowercase())).collect();
    format!("/stream?streams={}", streams.join("/"))
}

/// One trade of the REST `historicalTrades` answer
/// (`{"id","price","qty","quoteQty","time","isBuyerMaker","isBestMatch"}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BinanceRestTrade {
    pub id: u64,
    pub price: String,
    pub qty: String,
    pub time: i64,
    pub is_buyer_maker: bool,
}

impl BinanceRestTrade {
    /// The `@trade` stream frame of this trade, as the venue would have sent it.
    pub fn stream_frame(&self, symbol: &str) -> String {
        serde_json::json!({
            "e": "trade", "E": self.time, "s": symbol, "t": self.id, "p": self.price, "q": self.qty,
            "T": self.time, "m": self.is_buyer_maker, "M": true,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Message, from_json, trade_frame};
    use crate::scan::testing::mutated;

    /// What a [`Message`] says, the combined-stream wrapper taken off.
    type Said = (
        Option<String>,
        Option<String>,
        Option<u64>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<bool>,
        bool,
        bool,
    );

    fn said(message: Message<'_>) -> Said {
        let message = match message.data {
            Some(inner) => *inner,
            None => message,
        };
        let text = |t: Option<super::Text<'_>>| t.map(|t| t.0.into_owned());
        let (id, error) = (message.id.is_some(), message.error.is_some());
        (
            text(message.event),
            text(message.s),
            message.t,
            text(message.p),
            text(message.q),
            message.trade_time_ms,
            message.m,
            id,
            error,
        )
    }

    /// A value as it may be spelled in a frame: mostly what Binance writes, sometimes what it
    /// does not (escapes, non-ASCII, null, fractions, exponents, leading zeros, signs, overflow).
    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => any::<u64>().prop_map(|n| n.to_string()),
            2 => any::<i64>().prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec!["0", "-0", "017", "1.0", "1e3", "null", "\"1\"", "18446744073709551616", "-9223372036854775809"]).prop_map(String::from),
        ]
    }

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "\"[A-Z0-9.]{0,12}\"",
            1 => "\"[a\\\\\"é€\u{1}]{0,4}\"",
            1 => prop::sample::select(vec!["null", "1", "\"\\u0041\""]).prop_map(String::from),
        ]
    }

    prop_compose! {
        fn frame()(
            wrapped in any::<bool>(), stream in string(), event_time in number(), symbol in string(), id in number(),
            price in string(), size in string(), time in number(), maker in prop::sample::select(vec!["true", "false", "null", "1"]),
            best in prop::option::of(prop::sample::select(vec!["true", "false", "null"])),
        ) -> String {
            let best = best.map(|b| format!(",\"M\":{b}")).unwrap_or_default();
            let inner = format!(r#"{{"e":"trade","E":{event_time},"s":{symbol},"t":{id},"p":{price},"q":{size},"T":{time},"m":{maker}{best}}}"#);
            if wrapped { format!(r#"{{"stream":{stream},"data":{inner}}}"#) } else { inner }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        /// The fixed-shape reader reads a frame exactly as serde reads it, or leaves it to serde.
        #[test]
        fn the_trade_frame_reader_agrees_with_serde(frame in mutated(frame())) {
            if let Some(message) = trade_frame(frame.as_bytes()) {
                let by_serde = from_json::<Message<'_>>(frame.as_bytes());
                prop_assert!(by_serde.is_some(), "serde refuses {}", frame);
                prop_assert_eq!(said(message), said(by_serde.expect("read")), "{}", frame);
            }
        }
    }

    /// Binance's own spelling of a trade, raw and wrapped, is read by the fixed-shape reader.
    #[test]
    fn binance_trade_frames_take_the_fixed_shape_reader() {
        let raw = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}"#;
        let wrapped = format!(r#"{{"stream":"bnbbtc@trade","data":{raw}}}"#);
        for frame in [raw, wrapped.as_str(), r#"{"e":"trade","E":1,"s":"X","t":0,"p":"1","q":"2","T":-5,"m":false}"#] {
            let message = trade_frame(frame.as_bytes()).expect("read without serde");
            assert_eq!(said(message), said(from_json(frame.as_bytes()).expect("serde reads it")), "{frame}");
        }
        for frame in [&raw[..raw.len() - 1], r#"{"e":"trade", "E":1}"#, r#"{"result":null,"id":1}"#] {
            assert!(trade_frame(frame.as_bytes()).is_none(), "{frame}");
        }
    }
}
