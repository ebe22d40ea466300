//! What the Rust types put on the wire validates against `schemas/`, field for field, and the
//! column model is read from the same files.

use serde_json::Value;
use tickflow_core::anomaly::AnomalyConfig;
use tickflow_core::contract::schema::{self, ColumnType, Contract};
use tickflow_core::contract::{DeadLetter, GapReason, Metric, MetricKind, RejectReason, Stage, Venue};
use tickflow_core::feed::{MissedTrades, MissingIds};
use tickflow_core::processor::ProcessorConfig;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_core::validate::{ValidationRules, parse_trade};

use crate::support::{processor, reference};

fn validator(contract: Contract) -> jsonschema::Validator {
    let document = contract.document().expect("schema is JSON");
    jsonschema::validator_for(&document).expect("schema is a valid JSON Schema")
}

fn property_names(contract: Contract) -> Vec<String> {
    let document = contract.document().expect("schema is JSON");
    document["properties"].as_object().expect("properties").keys().cloned().collect()
}

fn assert_conforms(contract: Contract, records: &[Value]) {
    assert!(!records.is_empty(), "no {} records to check", contract.name);
    let validator = validator(contract);
    let properties = property_names(contract);
    for record in records {
        let errors: Vec<String> = validator.iter_errors(record).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{} record {record} violates its schema: {errors:?}", contract.name);
        let keys: Vec<&String> = record.as_object().expect("an object").keys().collect();
        assert_eq!(
            keys,
            properties.iter().collect::<Vec<_>>(),
            "{}: field order differs from the schema",
            contract.name
        );
    }
}

/// Trades, enriched trades, candles and anomalies from a synthetic run.
fn sample_records() -> (Vec<Value>, Vec<Value>, Vec<Value>, Vec<Value>) {
    let reference = reference();
    let mut market = SyntheticMarket::new(
        &reference,
        SyntheticConfig { trades_per_second: 2_000.0, burst_start_probability: 0.002, ..SyntheticConfig::default() },
    );
    let config = ProcessorConfig {
        anomaly: AnomalyConfig { lookback_windows: 5, volume_spike_factor: 2.0, price_jump_z: 2.0 },
        ..ProcessorConfig::default()
    };
    let mut processor = processor(config);
    let (mut trades, mut enriched, mut metrics) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..20_000 {
        let trade = market.next_trade();
        let bytes = serde_json::to_vec(&trade).expect("serializes");
        trades.push(serde_json::from_slice::<Value>(&bytes).expect("JSON"));
        if let Ok(out) = processor.process(&bytes, &mut metrics) {
            enriched.push(serde_json::to_value(&out).expect("serializes"));
        }
    }
    processor.finish(&mut metrics);
    let (mut candles, mut anomalies) = (Vec::new(), Vec::new());
    for metric in &metrics {
        let value = serde_json::to_value(metric).expect("serializes");
        // The `metric` field readers route by is exactly what `MetricKind` names.
        assert_eq!(value["metric"], serde_json::to_value(metric.kind()).expect("serializes"));
        match metric {
            Metric::Candle(_) => candles.push(value),
            Metric::Anomaly(_) => anomalies.push(value),
            Metric::FeedGap(_) => unreachable!("the processor makes no gaps of its own"),
        }
    }
    (trades, enriched, candles, anomalies)
}

#[test]
fn every_record_type_validates_against_its_schema() {
    let (trades, enriched, candles, anomalies) = sample_records();
    assert_conforms(schema::TRADE, &trades);
    assert_conforms(schema::ENRICHED_TRADE, &enriched);
    assert_conforms(schema::CANDLE, &candles);
    assert_conforms(schema::ANOMALY, &anomalies);
    assert!(enriched.iter().any(|e| e["price_change"].is_null()), "the first trade of an instrument has no change");
    assert!(enriched.iter().any(|e| e["price_only"] == true), "price-only updates are in the sample");

    let dead_letter = DeadLetter {
        reason: RejectReason::InvalidPrice,
        detail: "price must be positive".into(),
        stage: Stage::StreamProcessor,
        source_topic: "raw_trades".into(),
        source_partition: 3,
        source_offset: 1234,
        rejected_at_us: 1_700_000_000_000_000,
        original_bytes: b"{\"price\":\"-1\"}".to_vec(),
    };
    let value = serde_json::to_value(&dead_letter).expect("serializes");
    assert_conforms(schema::DEAD_LETTER, std::slice::from_ref(&value));
    let watermarks: Vec<Value> = [
        tickflow_core::contract::Watermark::all(1_700_000_000_000_000),
        tickflow_core::contract::Watermark {
            watermark_us: 1_700_000_000_000_000,
            venue: Some(Venue::Binance),
            held: true,
        },
    ]
    .iter()
    .map(|w| serde_json::to_value(w).expect("serializes"))
    .collect();
    assert_conforms(schema::WATERMARK, &watermarks);
    let gaps: Vec<Value> = [
        MissedTrades::ids(
            Venue::Binance,
            "BTCUSDT",
            GapReason::BackfillFailed,
            MissingIds { from: 7, to: 9, after_us: 1_700_000_000_000_000, before_us: 1_700_000_000_500_000 },
            1_700_000_001_000_000,
        ),
        MissedTrades {
            venue: Venue::Finnhub,
            venue_symbol: "AAPL".into(),
            reason: GapReason::Disconnected,
            from_us: 1_700_000_000_000_000,
            to_us: 1_700_000_003_000_000,
            ids: None,
            detected_at_us: 1_700_000_003_000_000,
        },
    ]
    .iter()
    .map(|missed| serde_json::to_value(Metric::FeedGap(missed.to_gap(&reference()).expect("known"))).expect("encodes"))
    .collect();
    assert!(gaps.iter().all(|gap| gap["metric"] == serde_json::to_value(MetricKind::FeedGap).expect("serializes")));
    assert_conforms(schema::FEED_GAP, &gaps);
    assert_eq!(serde_json::from_value::<DeadLetter>(value).expect("round trip"), dead_letter);
}

#[test]
fn schemas_reject_what_the_contract_forbids() {
    let (trades, ..) = sample_records();
    let validator = validator(schema::TRADE);
    let mut record = trades[0].clone();
    record["price"] = Value::from(129.58);
    assert!(!validator.is_valid(&record), "a float price is not a decimal string");
    let mut record = trades[0].clone();
    record["side"] = Value::from("long");
    assert!(!validator.is_valid(&record));
    let mut record = trades[0].clone();
    record["extra"] = Value::from(1);
    assert!(!validator.is_valid(&record), "no undeclared fields");
}

#[test]
fn raw_trades_round_trip_through_the_wire_format() {
    let (trades, ..) = sample_records();
    for value in trades.iter().take(500) {
        let bytes = serde_json::to_vec(value).expect("serializes");
        let parsed = parse_trade(&bytes, &ValidationRules::default()).expect("valid trade");
        assert_eq!(serde_json::to_value(&parsed).expect("serializes"), *value);
    }
}

#[test]
fn every_property_is_required_and_every_contract_yields_columns() {
    for contract in schema::ALL_CONTRACTS {
        let document = contract.document().expect("JSON");
        let required: Vec<&str> =
            document["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
        assert_eq!(
            required,
            property_names(contract),
            "{}: nullability is by type, so all are required",
            contract.name
        );
        let columns = contract.columns().expect("columns derive");
        assert_eq!(columns.len(), required.len());
    }
}

#[test]
fn enriched_trades_carry_every_trade_field_unchanged() {
    let trade = schema::TRADE.document().expect("JSON");
    let enriched = schema::ENRICHED_TRADE.document().expect("JSON");
    for (name, property) in trade["properties"].as_object().expect("properties") {
        assert_eq!(&enriched["properties"][name], property, "enriched_trade.{name} differs from trade.{name}");
    }
}

#[test]
fn column_types_follow_the_annotations() {
    let columns = schema::ENRICHED_TRADE.columns().expect("columns");
    let column = |name: &str| columns.iter().find(|c| c.name == name).expect(name).clone();
    assert_eq!(column("price").column_type, ColumnType::Decimal { precision: 18, scale: 8 });
    assert_eq!(column("trade_value").column_type, ColumnType::Decimal { precision: 38, scale: 16 });
    assert_eq!(column("event_time_us").column_type, ColumnType::TimestampMicrosUtc);
    assert_eq!(column("conditions").column_type, ColumnType::ListOfUtf8);
    assert!(column("trade_id").nullable && column("price_change").nullable && !column("price").nullable);
    let dead_letters = schema::DEAD_LETTER.columns().expect("columns");
    assert_eq!(dead_letters.last().map(|c| c.column_type), Some(ColumnType::Binary));
}

#[test]
fn the_topics_are_the_ones_schemas_declares_for_every_language() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/topics.json");
    let declared: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schemas/topics.json")).expect("JSON");
    let names: Vec<&str> = declared.keys().map(String::as_str).filter(|k| !k.starts_with('$')).collect();
    assert_eq!(names, tickflow_core::contract::topics::ALL_TOPICS);
}

#[test]
fn a_catalogue_written_as_csv_reads_back_the_same() {
    let calendars =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/reference/calendars.csv"))
            .expect("bundled calendars");
    for catalogue in [reference(), tickflow_core::synthetic::synthetic_reference(1_000)] {
        let csv = catalogue.instruments_csv();
        let read = tickflow_core::reference::ReferenceData::from_csv(&csv, &calendars).expect("written CSV reads");
        assert_eq!(read.instruments(), catalogue.instruments());
    }
    let bundled =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/reference/instruments.csv"))
            .expect("bundled instruments");
    assert_eq!(reference().instruments_csv().lines().next(), bundled.lines().next(), "same header");
}
