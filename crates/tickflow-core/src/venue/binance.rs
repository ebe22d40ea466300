//! Binance spot `@trade` streams, raw (`{"e":"trade",...}`) or combined
//! (`{"stream":"btcusdt@trade","data":{...}}`). `t` is the per-symbol trade id, `p`/`q` decimal
//! strings, `T` the trade time in ms, `m` "buyer is maker", so the aggressor sold when it is true.

use std::borrow::Cow;

use serde::Deserialize;

use super::{NormalizeContext, VenueFrame, millis_to_micros, schema_error, trade_key};
use crate::contract::{Rejection, Side, Trade, Venue};
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
    let message: Message<'a> = from_json(frame).ok_or_else(|| json_rejection(frame))?;
    classify(message, context)
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
    let Some(mut message) = from_json::<Message<'_>>(frame) else { return BinanceEvent::Other };
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
