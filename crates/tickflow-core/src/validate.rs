//! Turning untrusted bytes into a [`Trade`], or a typed [`Rejection`]: never a panic, whatever
//! the input. The same value checks serve the producer (on venue frames) and the
//! stream-processor (on `raw_trades` records, which anyone with topic access can write).

use std::borrow::Cow;

use serde::Deserialize;

use crate::contract::{RejectReason, Rejection, Side, Trade, Venue};
use crate::decimal::{Decimal, DecimalError};
use crate::scan::Scan;

/// Limits applied to every trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationRules {
    /// A message above this many bytes is rejected as `too_large` before it is parsed.
    pub max_message_bytes: usize,
    /// How far event time may run ahead of receive time.
    pub max_future_skew_us: i64,
    /// How far event time may lag behind receive time.
    pub max_past_skew_us: i64,
}

impl Default for ValidationRules {
    fn default() -> Self {
        ValidationRules { max_message_bytes: 16 * 1024, max_future_skew_us: 5_000_000, max_past_skew_us: 3_600_000_000 }
    }
}

/// Text that borrows from the input unless JSON escapes force a copy.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

/// The wire shape of `schemas/trade.schema.json`, with decimals still as text so a bad price
/// is reported as `invalid_price` rather than as a shape error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TradeWire<'a> {
    #[serde(borrow)]
    trade_key: Text<'a>,
    venue: Venue,
    #[serde(borrow)]
    venue_symbol: Text<'a>,
    #[serde(borrow)]
    instrument_id: Text<'a>,
    #[serde(borrow)]
    trade_id: Option<Text<'a>>,
    #[serde(borrow)]
    price: Text<'a>,
    #[serde(borrow)]
    size: Text<'a>,
    side: Side,
    #[serde(borrow)]
    conditions: Vec<Text<'a>>,
    price_only: bool,
    event_time_us: i64,
    receive_time_us: i64,
}

/// 2100-01-01T00:00:00Z: times beyond are not microseconds since the epoch.
const LATEST_TIME_US: i64 = 4_102_444_800_000_000;

pub(crate) const TOO_LARGE: Rejection = Rejection::new(RejectReason::TooLarge, "message exceeds the size limit");

/// Parses a `raw_trades` record and checks its values.
pub fn parse_trade<'a>(bytes: &'a [u8], rules: &ValidationRules) -> Result<Trade<'a>, Rejection> {
    if bytes.len() > rules.max_message_bytes {
        return Err(TOO_LARGE);
    }
    // Validating UTF-8 once for the whole record is cheaper than string by string.
    let text = std::str::from_utf8(bytes).map_err(|_| Rejection::new(RejectReason::ParseError, "not UTF-8"))?;
    let wire = producer_form(text).or_else(|| serde_json::from_str(text).ok()).ok_or_else(|| json_rejection(bytes))?;
    if wire.trade_key.0.is_empty() || wire.instrument_id.0.is_empty() || wire.venue_symbol.0.is_empty() {
        return Err(Rejection::new(RejectReason::SchemaError, "identity fields must not be empty"));
    }
    let trade = Trade {
        trade_key: wire.trade_key.0,
        venue: wire.venue,
        venue_symbol: wire.venue_symbol.0,
        instrument_id: wire.instrument_id.0,
        trade_id: wire.trade_id.map(|t| t.0),
        price: parse_price(&wire.price.0)?,
        size: parse_size(&wire.size.0)?,
        side: wire.side,
        conditions: wire.conditions.into_iter().map(|c| c.0).collect(),
        price_only: wire.price_only,
        event_time_us: wire.event_time_us,
        receive_time_us: wire.receive_time_us,
    };
    check_values(&trade, rules)?;
    Ok(trade)
}

/// A `raw_trades` record exactly as the producer writes it ([`Trade::write_json`]: its keys in
/// order, no whitespace, no escapes), read without serde; `None` for any other spelling, which
/// serde then reads (or refuses) as before.
fn producer_form(text: &str) -> Option<TradeWire<'_>> {
    let borrowed = |text| Text(Cow::Borrowed(text));
    let mut scan = Scan::text(text);
    scan.literal(br#"{"trade_key":""#)?;
    let trade_key = scan.string()?;
    scan.literal(br#","venue":""#)?;
    let venue_name = scan.string()?;
    let venue = Venue::ALL.into_iter().find(|venue| venue.as_str() == venue_name)?;
    scan.literal(br#","venue_symbol":""#)?;
    let venue_symbol = scan.string()?;
    scan.literal(br#","instrument_id":""#)?;
    let instrument_id = scan.string()?;
    scan.literal(br#","trade_id":"#)?;
    let trade_id = if scan.literal(b"null").is_some() { None } else { Some(scan.quoted()?) };
    scan.literal(br#","price":""#)?;
    let price = scan.string()?;
    scan.literal(br#","size":""#)?;
    let size = scan.string()?;
    scan.literal(br#","side":""#)?;
    let side_name = scan.string()?;
    let side = Side::ALL.into_iter().find(|side| side.as_str() == side_name)?;
    scan.literal(br#","conditions":"#)?;
    let conditions = scan.list(|scan| scan.quoted().map(borrowed))?;
    scan.literal(br#","price_only":"#)?;
    let price_only = scan.bool()?;
    scan.literal(br#","event_time_us":"#)?;
    let event_time_us = scan.signed()?;
    scan.literal(br#","receive_time_us":"#)?;
    let receive_time_us = scan.signed()?;
    scan.literal(b"}")?;
    scan.is_done().then(|| TradeWire {
        trade_key: borrowed(trade_key),
        venue,
        venue_symbol: borrowed(venue_symbol),
        instrument_id: borrowed(instrument_id),
        trade_id: trade_id.map(borrowed),
        price: borrowed(price),
        size: borrowed(size),
        side,
        conditions,
        price_only,
        event_time_us,
        receive_time_us,
    })
}

/// Reads JSON as `serde_json::from_slice` does (the same values, the same refusals: bytes that
/// are not UTF-8 never form JSON), with one UTF-8 check of the whole text instead of one per
/// string; `None` for anything that does not deserialize.
pub fn from_json<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    serde_json::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

/// Classifies bytes that did not deserialize: broken JSON is a `parse_error`, JSON of the wrong
/// shape a `schema_error`. (serde_json's own error categories cannot tell these apart reliably:
/// a `null` where an enum belongs is reported as a syntax error.) Runs on the error path only.
pub fn json_rejection(bytes: &[u8]) -> Rejection {
    if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        Rejection::new(RejectReason::SchemaError, "JSON does not match the contract")
    } else {
        Rejection::new(RejectReason::ParseError, "not valid JSON")
    }
}

pub fn parse_price(text: &str) -> Result<Decimal, Rejection> {
    Decimal::parse(text).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidPrice,
            match e {
                DecimalError::Syntax => "price is not a decimal number",
                DecimalError::TooPrecise => "price has more than 8 fractional digits",
                DecimalError::OutOfRange => "price is out of range",
            },
        )
    })
}

pub fn parse_size(text: &str) -> Result<Decimal, Rejection> {
    Decimal::parse(text).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidSize,
            match e {
                DecimalError::Syntax => "size is not a decimal number",
                DecimalError::TooPrecise => "size has more than 8 fractional digits",
                DecimalError::OutOfRange => "size is out of range",
            },
        )
    })
}

/// The longest venue symbol, instrument id, trade id or condition a trade may carry (real ids are
/// at most a UUID's 36 characters), and the most conditions. Bounded so that any trade the
/// producer accepts fits, written as a `raw_trades` record, in what the stream-processor reads
/// (`max_message_bytes`): a frame under the limit could otherwise carry a trade id that, written
/// twice (as itself and in the trade key), makes the record too large (found by fuzzing).
pub const MAX_FIELD_BYTES: usize = 128;
pub const MAX_CONDITIONS: usize = 16;

/// Checks a trade's values: identity fields and conditions of a sane length, positive price,
/// positive size (zero exactly for a price-only update), and event time within the allowed skew
/// of receive time.
pub fn check_values(trade: &Trade<'_>, rules: &ValidationRules) -> Result<(), Rejection> {
    let fields =
        [trade.venue_symbol.len(), trade.instrument_id.len(), trade.trade_id.as_ref().map_or(0, |id| id.len())];
    if fields.into_iter().chain(trade.conditions.iter().map(|c| c.len())).any(|len| len > MAX_FIELD_BYTES)
        || trade.conditions.len() > MAX_CONDITIONS
        || trade.trade_key.len() > 3 * MAX_FIELD_BYTES
    {
        return Err(Rejection::new(RejectReason::SchemaError, "an identity field or condition is too long"));
    }
    if !trade.price.is_positive() {
        return Err(Rejection::new(RejectReason::InvalidPrice, "price must be positive"));
    }
    match (trade.price_only, trade.size.is_positive(), trade.size == Decimal::ZERO) {
        (true, _, false) => {
            return Err(Rejection::new(RejectReason::InvalidSize, "a price-only update must have size 0"));
        }
        (false, false, _) => return Err(Rejection::new(RejectReason::InvalidSize, "size must be positive")),
        _ => {}
    }
    if !(0..LATEST_TIME_US).contains(&trade.event_time_us) || !(0..LATEST_TIME_US).contains(&trade.receive_time_us) {
        return Err(Rejection::new(RejectReason::SchemaError, "timestamps must lie between 1970 and 2100"));
    }
    let ahead = trade.event_time_us.saturating_sub(trade.receive_time_us);
    if ahead > rules.max_future_skew_us {
        return Err(Rejection::new(RejectReason::ClockSkew, "event time is too far ahead of receive time"));
    }
    if ahead < -rules.max_past_skew_us {
        return Err(Rejection::new(RejectReason::ClockSkew, "event time is too far behind receive time"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{TradeWire, ValidationRules, parse_trade, producer_form};
    use crate::scan::testing::mutated;
    use crate::synthetic::{SyntheticConfig, SyntheticMarket, synthetic_reference};

    /// Everything a [`TradeWire`] says, owned and comparable.
    fn said(wire: TradeWire<'_>) -> String {
        let text = |t: super::Text<'_>| t.0.into_owned();
        format!(
            "{:?}",
            (
                text(wire.trade_key),
                wire.venue,
                text(wire.venue_symbol),
                text(wire.instrument_id),
                wire.trade_id.map(text),
                text(wire.price),
                text(wire.size),
                wire.side,
                wire.conditions.into_iter().map(text).collect::<Vec<_>>(),
                wire.price_only,
                wire.event_time_us,
                wire.receive_time_us,
            )
        )
    }

    /// A string value as the producer writes it, or as it does not (escapes, non-ASCII, control
    /// characters, `null`, a number).
    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            12 => "\"[A-Za-z0-9.:_-]{0,12}\"",
            1 => "\"[a\\\\\"é€\u{1}]{0,4}\"",
            1 => prop::sample::select(vec!["null", "1", "\"\\u0041\"", "\"\""]).prop_map(String::from),
        ]
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => any::<i64>().prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec!["0", "-0", "017", "1.0", "1e3", "null", "\"1\"", "9223372036854775808"]).prop_map(String::from),
        ]
    }

    prop_compose! {
        fn record()(
            key in string(), venue in prop::sample::select(vec!["\"binance\"", "\"finnhub\"", "\"coinbase\"", "\"kraken\"", "null"]),
            symbol in string(), instrument in string(), id in string(), price in string(), size in string(),
            side in prop::sample::select(vec!["\"buy\"", "\"sell\"", "\"unknown\"", "\"BUY\"", "null"]),
            conditions in prop::collection::vec(string(), 0..3),
            price_only in prop::sample::select(vec!["true", "false", "null", "0"]),
            event_time in number(), receive_time in number(),
        ) -> String {
            let conditions = conditions.join(",");
            format!(r#"{{"trade_key":{key},"venue":{venue},"venue_symbol":{symbol},"instrument_id":{instrument},"trade_id":{id},"price":{price},"size":{size},"side":{side},"conditions":[{conditions}],"price_only":{price_only},"event_time_us":{event_time},"receive_time_us":{receive_time}}}"#)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        /// The producer-form reader reads a record exactly as serde reads it, or leaves it to serde.
        #[test]
        fn the_producer_form_reader_agrees_with_serde(record in mutated(record())) {
            if let Some(wire) = producer_form(&record) {
                let by_serde = serde_json::from_str::<TradeWire<'_>>(&record);
                prop_assert!(by_serde.is_ok(), "serde refuses {}", record);
                prop_assert_eq!(said(wire), said(by_serde.expect("read")), "{}", record);
            }
        }
    }

    /// Every record the producer writes takes the producer-form reader and parses back to its trade.
    #[test]
    fn the_producers_records_take_the_producer_form_reader() {
        let reference = synthetic_reference(60);
        let mut market = SyntheticMarket::new(&reference, SyntheticConfig::default());
        let mut record = Vec::new();
        for _ in 0..5_000 {
            let trade = market.next_trade();
            record.clear();
            trade.write_json(&mut record);
            let text = std::str::from_utf8(&record).expect("UTF-8");
            assert!(producer_form(text).is_some(), "{text}");
            assert_eq!(parse_trade(&record, &ValidationRules::default()).map(|t| t.into_owned()), Ok(trade), "{text}");
        }
        let spaced = r#"{"trade_key": "k","venue":"binance"}"#;
        assert!(producer_form(spaced).is_none(), "any other spelling is left to serde");
    }
}
