//! Whatever the bytes, the core answers with a trade or a typed rejection: never a panic.

use proptest::prelude::*;
use serde_json::Value;
use tickflow_core::contract::{RejectReason, Venue};
use tickflow_core::processor::ProcessorConfig;
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{NormalizeContext, normalize};

use crate::support::{T0, bytes, processor, reference, trade};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-zA-Z0-9.:_ -]{0,12}".prop_map(Value::from),
        prop_oneof![Just("-1"), Just("0"), Just("NaN"), Just("1e12"), Just("0.000000001"), Just("1e-3")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,14}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid record with one field replaced by arbitrary JSON or removed (and then its name).
fn mutated_record() -> impl Strategy<Value = (Vec<u8>, Option<String>)> {
    let base: Value = serde_json::from_slice(&bytes(&trade(1, T0, "100.5", "2"))).expect("JSON");
    let fields: Vec<String> = base.as_object().expect("object").keys().cloned().collect();
    (0..fields.len(), prop::option::of(json_value())).prop_map(move |(field, replacement)| {
        let mut record = base.clone();
        let object = record.as_object_mut().expect("object");
        let removed = replacement.is_none().then(|| fields[field].clone());
        match replacement {
            Some(value) => object.insert(fields[field].clone(), value),
            None => object.remove(&fields[field]),
        };
        (serde_json::to_vec(&record).expect("serializes"), removed)
    })
}

fn feed_everywhere(payload: &[u8]) -> Result<(), RejectReason> {
    let reference = reference();
    let rules = ValidationRules::default();
    let context = NormalizeContext { reference: &reference, rules: &rules, receive_time_us: T0 };
    for venue in Venue::ALL {
        let _ = normalize(venue, payload, &context);
    }
    let mut processor = processor(ProcessorConfig::default());
    processor.process(payload, &mut Vec::new()).map(|_| ()).map_err(|r| r.reason)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_rejected_as_parse_errors(payload in prop::collection::vec(any::<u8>(), 0..512)) {
        let outcome = feed_everywhere(&payload);
        if serde_json::from_slice::<Value>(&payload).is_err() {
            prop_assert_eq!(outcome, Err(RejectReason::ParseError));
        }
    }

    #[test]
    fn arbitrary_json_is_rejected_as_a_schema_error(value in json_value()) {
        let payload = serde_json::to_vec(&value).expect("serializes");
        prop_assert_eq!(feed_everywhere(&payload), Err(RejectReason::SchemaError));
    }

    #[test]
    fn a_broken_field_costs_only_its_record((payload, removed) in mutated_record()) {
        match feed_everywhere(&payload) {
            // A record without a field is never a trade, except one without `trade_id`, which
            // reads as a venue that gives no trade ids (`null`).
            Ok(()) => prop_assert!(
                removed.as_deref().is_none_or(|field| field == "trade_id"),
                "a record without {:?} was accepted", removed
            ),
            // Valid JSON, the first record of a fresh processor: a content reason, never
            // a parse error, a duplicate or a late event.
            Err(reason) => prop_assert!(
                !matches!(reason, RejectReason::ParseError | RejectReason::Duplicate | RejectReason::LateEvent),
                "rejected as {:?}", reason
            ),
        }
        let mut processor = processor(ProcessorConfig::default());
        let _ = processor.process(&payload, &mut Vec::new());
        let good = bytes(&trade(2, T0, "100", "1"));
        prop_assert!(processor.process(&good, &mut Vec::new()).is_ok(), "a good record after a bad one is accepted");
    }
}

/// Found by `scripts/fuzz.sh` (venue_frame, kept in fuzz/regressions/): a frame under the size
/// limit whose trade id is thousands of bytes long was accepted by the producer, and its
/// `raw_trades` record (the id written twice) rejected by the stream-processor as too large.
/// The producer now refuses it, and what it accepts the processor accepts.
#[test]
fn a_trade_id_too_long_for_a_record_is_refused_where_it_enters() {
    let reference = reference();
    let rules = ValidationRules::default();
    let context = NormalizeContext { reference: &reference, rules: &rules, receive_time_us: T0 };
    let frame = |id: &str| {
        serde_json::json!({"channel": "market_trades", "timestamp": "2023-11-14T22:13:20.000Z", "sequence_num": 1,
            "events": [{"type": "update", "trades": [{"trade_id": id, "product_id": "BTC-USD", "price": "100.5",
            "size": "0.1", "side": "BUY", "time": "2023-11-14T22:13:20.000Z"}]}]})
        .to_string()
    };
    let long = frame(&"7".repeat(7_000));
    assert!(long.len() < rules.max_message_bytes, "the frame itself is within the limit");
    let Ok(tickflow_core::venue::VenueFrame::Trades { trades, .. }) =
        normalize(Venue::Coinbase, long.as_bytes(), &context)
    else {
        panic!("a readable frame")
    };
    assert_eq!(trades[0].as_ref().map_err(|r| r.reason), Err(RejectReason::SchemaError));

    let normal = frame("12345");
    let Ok(tickflow_core::venue::VenueFrame::Trades { trades, .. }) =
        normalize(Venue::Coinbase, normal.as_bytes(), &context)
    else {
        panic!("a readable frame")
    };
    let record = serde_json::to_vec(trades[0].as_ref().expect("a normal id is accepted")).expect("serializes");
    assert!(tickflow_core::validate::parse_trade(&record, &rules).is_ok());
}

proptest! {
    /// `from_json` (one UTF-8 check, then strings read unchecked) takes and refuses exactly what
    /// `serde_json::from_slice` does: any bytes, and JSON with one byte replaced by any byte
    /// (inside or outside strings, ASCII or not).
    #[test]
    fn from_json_reads_exactly_what_from_slice_reads(
        value in json_value(), noise in prop::collection::vec(any::<u8>(), 0..64),
        at in any::<prop::sample::Index>(), byte in any::<u8>(),
    ) {
        let mut text = serde_json::to_vec(&value).expect("JSON");
        let position = at.index(text.len());
        text[position] = byte;
        for input in [&text, &noise] {
            let ours = tickflow_core::validate::from_json::<Value>(input);
            prop_assert_eq!(ours, serde_json::from_slice::<Value>(input).ok());
        }
    }
}
