//! Coinbase Advanced Trade: `market_trades` (snapshot, then updates), `heartbeats` and
//! `subscriptions` channels, all carrying a per-connection `sequence_num`. Prices and sizes are
//! decimal strings, times RFC 3339 with up to nanoseconds (kept to the microsecond), and `side`
//! is the resting (maker) order's: see [`aggressor_side`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{NormalizeContext, VenueFrame, schema_error, trade_key};
use crate::contract::{Rejection, Side, Trade, Venue};
use crate::scan::Scan;

/// The aggressor (taker) side of a Coinbase trade from the `side` Coinbase reports, which is
/// the side of the resting (maker) order, so the aggressor's is the opposite.
///
/// Why: Coinbase's Advanced Trade reference does not say whose side `market_trades.side` is.
/// The one first-party definition for Coinbase's matching engine, the Exchange WebSocket feed's
/// `match` message, documents that "the side field indicates the maker order side" (a `sell`
/// is an up-tick). Adapters that read the Advanced Trade feed split: nautilus_trader and others
/// invert it, cryptofeed passes it through; none cites a definition for Advanced Trade. With
/// no better source we follow the documented meaning. This is the only place the decision is
/// made; the simulator renders trades the same way (`exchange-sim`, `synthetic::venue_frame`).
pub fn aggressor_side(reported: &str) -> Side {
    match reported {
        "BUY" | "buy" => Side::Sell,
        "SELL" | "sell" => Side::Buy,
        _ => Side::Unknown,
    }
}

/// The `side` Coinbase reports for a trade whose aggressor was `aggressor` (the inverse of
/// [`aggressor_side`]).
pub fn reported_side(aggressor: Side) -> &'static str {
    match aggressor {
        Side::Buy => "SELL",
        Side::Sell | Side::Unknown => "BUY",
    }
}
use crate::validate::{Text, from_json, json_rejection, parse_price, parse_size};

/// A message whose trades are `T`: parsed with the message, or kept raw to be parsed one by one.
#[derive(Deserialize)]
struct Message<'a, T> {
    #[serde(borrow)]
    channel: Option<Text<'a>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    sequence_num: Option<u64>,
    #[serde(borrow, default = "Vec::new")]
    events: Vec<Event<'a, T>>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Event<'a, T> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(default = "Vec::new")]
    trades: Vec<T>,
}

#[derive(Deserialize)]
struct CoinbaseTrade<'a> {
    #[serde(borrow)]
    trade_id: Text<'a>,
    #[serde(borrow)]
    product_id: Text<'a>,
    #[serde(borrow)]
    price: Text<'a>,
    #[serde(borrow)]
    size: Text<'a>,
    #[serde(borrow)]
    side: Text<'a>,
    #[serde(borrow)]
    time: Text<'a>,
}

/// Reads the message and its trades in one pass (a `market_trades` message in its plain form
/// without serde, see [`trades_message`]); a message with a trade that does not read is read
/// again with its trades kept raw, so that only that trade is refused.
pub fn normalize_coinbase<'a>(frame: &'a [u8], context: &NormalizeContext<'a>) -> Result<VenueFrame<'a>, Rejection> {
    if let Some(message) = trades_message(frame).or_else(|| from_json::<Message<'a, CoinbaseTrade<'a>>>(frame)) {
        return Ok(classify(message, Ok, context));
    }
    let message: Message<'a, &'a RawValue> = from_json(frame).ok_or_else(|| json_rejection(frame))?;
    let read = |raw: &'a RawValue| {
        serde_json::from_str::<CoinbaseTrade<'a>>(raw.get()).map_err(|_| json_rejection(raw.get().as_bytes()))
    };
    Ok(classify(message, read, context))
}

/// A `market_trades` message in plain JSON (keys in any order, no whitespace, no escapes; the
/// fields serde reads, plus `client_id` and `timestamp`, which it skips), read without serde;
/// `None` for any other message or form, which serde reads.
fn trades_message(frame: &[u8]) -> Option<Message<'_, CoinbaseTrade<'_>>> {
    let mut scan = Scan::new(frame)?;
    let (mut channel, mut sequence_num, mut events) = (None, None, None);
    scan.object(|key, scan| {
        match key {
            "channel" if channel.is_none() => channel = Some(scan.quoted()?),
            "sequence_num" if sequence_num.is_none() => sequence_num = Some(scan.unsigned()?),
            "events" if events.is_none() => events = Some(scan.list(read_event)?),
            "client_id" | "timestamp" => drop(scan.quoted()?),
            _ => return None,
        }
        Some(())
    })?;
    if !(channel == Some("market_trades") && scan.is_done()) {
        return None;
    }
    Some(Message {
        channel: channel.map(|c| Text(Cow::Borrowed(c))),
        kind: None,
        sequence_num,
        events: events?,
        message: None,
    })
}

fn read_event<'a>(scan: &mut Scan<'a>) -> Option<Event<'a, CoinbaseTrade<'a>>> {
    let (mut kind, mut trades) = (None, None);
    scan.object(|key, scan| {
        match key {
            "type" if kind.is_none() => kind = Some(scan.quoted()?),
            "trades" if trades.is_none() => trades = Some(scan.list(read_trade)?),
            _ => return None,
        }
        Some(())
    })?;
    Some(Event { kind: kind.map(|k| Text(Cow::Borrowed(k))), trades: trades.unwrap_or_default() })
}

fn read_trade<'a>(scan: &mut Scan<'a>) -> Option<CoinbaseTrade<'a>> {
    let mut fields: [Option<&'a str>; 6] = [None; 6];
    scan.object(|key, scan| {
        let at = ["trade_id", "product_id", "price", "size", "side", "time"].iter().position(|k| *k == key)?;
        if fields[at].is_some() {
            return None;
        }
        fields[at] = Some(scan.quoted()?);
        Some(())
    })?;
    let text = |at: usize| fields[at].map(|f| Text(Cow::Borrowed(f)));
    Some(CoinbaseTrade {
        trade_id: text(0)?,
        product_id: text(1)?,
        price: text(2)?,
        size: text(3)?,
        side: text(4)?,
        time: text(5)?,
    })
}

fn classify<'a, T>(
    message: Message<'a, T>,
    read: impl Fn(T) -> Result<CoinbaseTrade<'a>, Rejection>,
    context: &NormalizeContext<'a>,
) -> VenueFrame<'a> {
    if message.kind.as_ref().is_some_and(|k| k.0 == "error") {
        return VenueFrame::VenueError { message: message.message.unwrap_or_default() };
    }
    match message.channel.as_ref().map(|c| c.0.as_ref()) {
        Some("market_trades") => {
            let snapshot = message.events.iter().any(|e| e.kind.as_ref().is_some_and(|k| k.0 == "snapshot"));
            let trades = message
                .events
                .into_iter()
                .flat_map(|e| e.trades)
                .map(|trade| normalize_trade(read(trade)?, context))
                .collect();
            VenueFrame::Trades { trades, sequence: message.sequence_num, snapshot }
        }
        Some("heartbeats") => VenueFrame::Heartbeat { sequence: message.sequence_num },
        Some("subscriptions") => VenueFrame::Subscribed,
        _ => VenueFrame::Ignored,
    }
}

fn normalize_trade<'a>(trade: CoinbaseTrade<'a>, context: &NormalizeContext<'a>) -> Result<Trade<'a>, Rejection> {
    if trade.product_id.0.is_empty() || trade.trade_id.0.is_empty() {
        return Err(schema_error("product_id and trade_id must not be empty"));
    }
    let side = aggressor_side(&trade.side.0);
    let event_time_us = chrono::DateTime::parse_from_rfc3339(&trade.time.0)
        .map_err(|_| schema_error("time is not RFC 3339"))?
        .timestamp_micros();
    let instrument_id = context.instrument_id(Venue::Coinbase, &trade.product_id.0)?;
    context.finish(Trade {
        trade_key: Cow::Owned(trade_key(Venue::Coinbase, &trade.product_id.0, &[&trade.trade_id.0])),
        venue: Venue::Coinbase,
        instrument_id,
        price: parse_price(&trade.price.0)?,
        size: parse_size(&trade.size.0)?,
        venue_symbol: trade.product_id.0,
        trade_id: Some(trade.trade_id.0),
        side,
        conditions: Vec::new(),
        price_only: false,
        event_time_us,
        receive_time_us: context.receive_time_us,
    })
}

#[cfg(test)]
mod reader_tests {
    use proptest::prelude::*;

    use super::{CoinbaseTrade, Message, from_json, trades_message};
    use crate::scan::testing::mutated;

    /// What a message says: channel, type, sequence number, events (type and trades), message.
    type Said = (Option<String>, Option<String>, Option<u64>, Vec<(Option<String>, Vec<[String; 6]>)>, Option<String>);

    fn said(message: Message<'_, CoinbaseTrade<'_>>) -> Said {
        let text = |t: Option<super::Text<'_>>| t.map(|t| t.0.into_owned());
        let events = message.events.into_iter().map(|event| {
            let trades = event
                .trades
                .into_iter()
                .map(|t| [t.trade_id, t.product_id, t.price, t.size, t.side, t.time].map(|f| f.0.into_owned()));
            (text(event.kind), trades.collect())
        });
        (text(message.channel), text(message.kind), message.sequence_num, events.collect(), message.message)
    }

    /// Any value, as the tests may put one where a field of another type belongs.
    fn value() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["null", "1", "-0", "[]", "{}", "\"a\\\"b\"", "\"é\"", "\"\""]).prop_map(String::from)
    }

    /// An object of `keys` (shuffled, sometimes one dropped or an unknown one added), each key's
    /// value mostly from `own`, sometimes any value.
    fn object(
        keys: Vec<&'static str>,
        own: impl Fn(&'static str) -> BoxedStrategy<String> + 'static,
    ) -> BoxedStrategy<String> {
        let count = keys.len();
        (Just(keys).prop_shuffle(), count - 1..count + 2)
            .prop_flat_map(move |(mut keys, n)| {
                keys.push("x");
                keys.truncate(n);
                keys.into_iter()
                    .map(|key| {
                        prop_oneof![8 => own(key), 1 => value().boxed()].prop_map(move |v| format!("\"{key}\":{v}"))
                    })
                    .collect::<Vec<_>>()
            })
            .prop_map(|fields| format!("{{{}}}", fields.join(",")))
            .boxed()
    }

    fn array(item: BoxedStrategy<String>) -> BoxedStrategy<String> {
        prop::collection::vec(item, 0..3).prop_map(|items| format!("[{}]", items.join(","))).boxed()
    }

    fn trade() -> BoxedStrategy<String> {
        object(vec!["trade_id", "product_id", "price", "size", "side", "time"], |_| "\"[A-Z0-9.:-]{0,6}\"".boxed())
    }

    fn event() -> BoxedStrategy<String> {
        object(vec!["type", "trades"], |key| match key {
            "type" => prop::sample::select(vec!["\"snapshot\"", "\"update\""]).prop_map(String::from).boxed(),
            _ => array(trade()),
        })
    }

    fn message() -> impl Strategy<Value = String> {
        let message = object(vec!["channel", "client_id", "timestamp", "sequence_num", "events"], |key| match key {
            "channel" => {
                prop::sample::select(vec!["\"market_trades\"", "\"heartbeats\""]).prop_map(String::from).boxed()
            }
            "sequence_num" => any::<u64>().prop_map(|n| n.to_string()).boxed(),
            "events" => array(event()),
            _ => "\"[0-9T:.Z-]{0,8}\"".boxed(),
        });
        mutated(message)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        /// The fixed-form reader reads a message exactly as serde reads it, or leaves it to serde.
        #[test]
        fn the_trades_message_reader_agrees_with_serde(message in message()) {
            if let Some(read) = trades_message(message.as_bytes()) {
                let by_serde = from_json::<Message<'_, CoinbaseTrade<'_>>>(message.as_bytes());
                prop_assert!(by_serde.is_some(), "serde refuses {}", message);
                prop_assert_eq!(said(read), said(by_serde.expect("read")), "{}", message);
            }
        }
    }

    /// Coinbase's `market_trades` message as its documentation shows it takes the fixed-form
    /// reader; other channels do not.
    #[test]
    fn coinbase_trades_messages_take_the_fixed_form_reader() {
        let message = r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"snapshot","trades":[{"trade_id":"000000000","product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}"#;
        let read = trades_message(message.as_bytes()).expect("read without serde");
        assert_eq!(said(read), said(from_json(message.as_bytes()).expect("serde reads it")));
        let heartbeat = r#"{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":0,"events":[]}"#;
        assert!(trades_message(heartbeat.as_bytes()).is_none());
    }
}
