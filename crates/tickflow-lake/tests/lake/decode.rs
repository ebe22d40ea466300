//! The lake's decoder reads records into exactly the columns arrow-json makes of them (the
//! oracle here: arrow-json in strict mode against the same schema, base64 columns read as text
//! and decoded after), for every table and any values the contract allows: text with escapes and
//! non-ASCII, decimals at any precision, nulls, lists, bytes, properties in any order. And it
//! refuses what breaks the contract, naming the line and the property.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tickflow_core::contract::schema::{Column, ColumnType};
use tickflow_core::contract::{DeadLetter, Metric, RejectReason, Stage};
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_lake::LakeTable;
use tickflow_lake::decode::decode_lines;
use tickflow_lake::schema::columns_schema;

fn columns(table: LakeTable) -> (Vec<Column>, Arc<Schema>) {
    let columns = table.contract.columns().expect("contract");
    let schema = Arc::new(columns_schema(&columns));
    (columns, schema)
}

fn decode(table: LakeTable, lines: &[u8]) -> Result<RecordBatch, String> {
    let (columns, _) = columns(table);
    decode_lines(&columns, lines).map_err(|e| e.to_string())
}

/// arrow-json's reading of the same lines.
fn oracle(table: LakeTable, lines: &[u8]) -> Result<RecordBatch, String> {
    let (_, schema) = columns(table);
    let as_text: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let text = f.data_type() == &DataType::Binary;
            f.as_ref().clone().with_data_type(if text { DataType::Utf8 } else { f.data_type().clone() })
        })
        .collect();
    let text_schema = Arc::new(Schema::new(as_text));
    let mut decoder = arrow_json::ReaderBuilder::new(Arc::clone(&text_schema))
        .with_strict_mode(true)
        .with_batch_size(lines.len() + 1)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    let mut rest = lines;
    while !rest.is_empty() {
        let used = decoder.decode(rest).map_err(|e| e.to_string())?;
        if used == 0 {
            break;
        }
        rest = &rest[used..];
    }
    let batch = decoder.flush().map_err(|e| e.to_string())?.unwrap_or_else(|| RecordBatch::new_empty(text_schema));
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if field.data_type() != &DataType::Binary {
                return Ok(Arc::clone(column));
            }
            let text = column.as_any().downcast_ref::<StringArray>().expect("text");
            let bytes: Result<Vec<Option<Vec<u8>>>, _> =
                text.iter().map(|v| v.map(|s| STANDARD.decode(s)).transpose()).collect();
            Ok(Arc::new(BinaryArray::from_iter(bytes.map_err(|e| e.to_string())?)) as ArrayRef)
        })
        .collect::<Result<Vec<_>, String>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

/// The same batch, or the first column that differs.
fn same(ours: &RecordBatch, theirs: &RecordBatch) -> Result<(), String> {
    for (field, (a, b)) in ours.schema().fields().iter().zip(ours.columns().iter().zip(theirs.columns())) {
        if a.to_data() != b.to_data() {
            return Err(format!("column `{}`: ours {:?}, arrow-json {:?}", field.name(), a.to_data(), b.to_data()));
        }
    }
    if ours != theirs { Err("the batches differ outside their columns".into()) } else { Ok(()) }
}

fn lines(records: &[Value]) -> Vec<u8> {
    records.iter().flat_map(|r| serde_json::to_vec(r).expect("JSON").into_iter().chain([b'\n'])).collect()
}

/// Records of every table as the services write them: the processor's enriched trades,
/// candles and anomalies over the synthetic market, and a dead letter of arbitrary bytes.
fn real_records() -> Vec<(LakeTable, Vec<Value>)> {
    let reference = ReferenceData::bundled().expect("reference");
    let mut market = SyntheticMarket::new(&reference, SyntheticConfig::default());
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference).expect("processor");
    let (mut trades, mut candles, mut anomalies, mut emitted) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..20_000 {
        let record = serde_json::to_vec(&market.next_trade()).expect("encodes");
        if let Ok(enriched) = processor.process(&record, &mut emitted) {
            trades.push(serde_json::to_value(&enriched).expect("JSON"));
        }
        for metric in emitted.drain(..) {
            let value = serde_json::to_value(&metric).expect("JSON");
            match metric {
                Metric::Candle(_) => candles.push(value),
                Metric::Anomaly(_) => anomalies.push(value),
                Metric::FeedGap(_) => {}
            }
        }
    }
    let letter = DeadLetter {
        reason: RejectReason::ParseError,
        detail: "not valid JSON: \"quoted\"\n".into(),
        stage: Stage::StreamProcessor,
        source_topic: "raw_trades".into(),
        source_partition: 3,
        source_offset: 7,
        rejected_at_us: 1_700_000_000_000_000,
        original_bytes: vec![0, 159, 146, 150, b'{', b'\n'],
    };
    let letters = vec![serde_json::to_value(&letter).expect("JSON")];
    vec![
        (LakeTable::TRADES, trades),
        (LakeTable::CANDLES, candles),
        (LakeTable::ANOMALIES, anomalies),
        (LakeTable::DEAD_LETTERS, letters),
    ]
}

#[test]
fn the_services_records_decode_as_arrow_json_decodes_them() {
    for (table, records) in real_records() {
        assert!(!records.is_empty() || table == LakeTable::ANOMALIES, "{} has records", table.name);
        let lines = lines(&records);
        let ours = decode(table, &lines).expect("decodes");
        assert_eq!(ours.num_rows(), records.len());
        let theirs = oracle(table, &lines).expect("arrow-json decodes");
        if let Err(difference) = same(&ours, &theirs) {
            panic!("{}: {difference}", table.name);
        }
    }
}

/// Text as records may carry it: mostly plain, sometimes escapes, control characters, non-ASCII.
fn text() -> BoxedStrategy<String> {
    prop_oneof![3 => "[A-Za-z0-9:._-]{0,24}", 1 => any::<String>(), 1 => "[a\"\\\\\n\t\u{1}\u{7f}é€😀]{0,8}"].boxed()
}

/// A decimal of `precision` digits, `scale` of them after the point, as the services write it
/// (trailing zeros dropped) or with fewer digits than it may have.
fn decimal(precision: u8, scale: i8) -> BoxedStrategy<String> {
    let limit = 10i128.pow(u32::from(precision)) - 1;
    let scale = scale as usize;
    (-limit..=limit)
        .prop_map(move |units| {
            let digits = format!("{:0>width$}", units.unsigned_abs(), width = scale + 1);
            let (whole, fraction) = digits.split_at(digits.len() - scale);
            let fraction = fraction.trim_end_matches('0');
            let sign = if units < 0 { "-" } else { "" };
            if fraction.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") }
        })
        .boxed()
}

fn value(column: &Column) -> BoxedStrategy<Value> {
    let value = match column.column_type {
        ColumnType::Utf8 => text().prop_map(Value::from).boxed(),
        ColumnType::Int32 => any::<i32>().prop_map(Value::from).boxed(),
        ColumnType::Int64 | ColumnType::TimestampMicrosUtc => any::<i64>().prop_map(Value::from).boxed(),
        ColumnType::Float64 => prop_oneof![
            prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
            any::<i32>().prop_map(f64::from),
        ]
        .prop_map(|f| json!(f))
        .boxed(),
        ColumnType::Boolean => any::<bool>().prop_map(Value::from).boxed(),
        ColumnType::Binary => {
            prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Value::from(STANDARD.encode(b))).boxed()
        }
        ColumnType::Decimal { precision, scale } => decimal(precision, scale).prop_map(Value::from).boxed(),
        ColumnType::ListOfUtf8 => prop::collection::vec(text(), 0..4).prop_map(Value::from).boxed(),
    };
    if column.nullable { prop_oneof![3 => value, 1 => Just(Value::Null)].boxed() } else { value }
}

/// Records of a table with any values its contract allows; a nullable property is sometimes
/// left out, and the properties of some records are written in reverse order.
fn records(table: LakeTable) -> impl Strategy<Value = Vec<Value>> {
    let (columns, _) = columns(table);
    let record = (
        columns.iter().map(value).collect::<Vec<_>>(),
        prop::collection::vec(any::<bool>(), columns.len()),
        any::<bool>(),
    )
        .prop_map(move |(values, drop, reverse)| {
            let mut pairs: Vec<(String, Value)> = columns
                .iter()
                .zip(values)
                .zip(drop)
                .filter(|((column, _), drop)| !(column.nullable && *drop))
                .map(|((column, value), _)| (column.name.clone(), value))
                .collect();
            if reverse {
                pairs.reverse();
            }
            Value::Object(pairs.into_iter().collect::<Map<_, _>>())
        });
    prop::collection::vec(record, 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_records_of_any_table_decode_as_arrow_json_decodes_them(
        (table, records) in prop::sample::select(LakeTable::ALL.to_vec()).prop_flat_map(|t| (Just(t), records(t)))
    ) {
        let lines = lines(&records);
        let ours = decode(table, &lines).map_err(|e| TestCaseError::fail(format!("{}: {e}", table.name)))?;
        let theirs = oracle(table, &lines).expect("arrow-json decodes");
        same(&ours, &theirs).map_err(|difference| TestCaseError::fail(format!("{}: {difference}", table.name)))?;
    }
}

#[test]
fn records_that_break_the_contract_are_refused_with_their_line_and_property() {
    let (_, trades) = real_records().into_iter().next().expect("trades");
    let good = trades[0].clone();
    let broken = |change: &dyn Fn(&mut Map<String, Value>)| {
        let mut record = good.clone();
        change(record.as_object_mut().expect("object"));
        record
    };
    let cases: Vec<(Value, &str)> = vec![
        (broken(&|r| drop(r.insert("unexpected".into(), json!(1)))), "`unexpected` is not in the contract"),
        (broken(&|r| drop(r.remove("venue"))), "missing field `venue`"),
        (broken(&|r| drop(r.insert("venue".into(), Value::Null))), "`venue` is null"),
        (broken(&|r| drop(r.insert("venue".into(), json!(5)))), "`venue` holds integer `5`, expected a string"),
        (broken(&|r| drop(r.insert("event_time_us".into(), json!("1")))), "`event_time_us` holds string"),
        (broken(&|r| drop(r.insert("price".into(), json!(1.5)))), "expected a decimal as text"),
        (broken(&|r| drop(r.insert("price".into(), json!("12345678901.5")))), "`price`"),
        (broken(&|r| drop(r.insert("price".into(), json!("1.2.3")))), "`price`"),
        (broken(&|r| drop(r.insert("is_late".into(), json!("no")))), "`is_late` holds string"),
        (broken(&|r| drop(r.insert("conditions".into(), json!([1])))), "strings in `conditions`"),
        (broken(&|r| drop(r.insert("conditions".into(), json!([null])))), "strings in `conditions`"),
        (broken(&|r| drop(r.insert("trade_key".into(), json!({"a": 1})))), "`trade_key` holds map"),
        (json!([1, 2]), "expected a JSON object"),
    ];
    for (record, expected) in cases {
        let lines = lines(&[good.clone(), record.clone()]);
        let error = decode(LakeTable::TRADES, &lines).expect_err(&record.to_string());
        assert!(error.starts_with("line 2: ") && error.contains(expected), "{error} (wanted {expected})");
        // arrow-json refuses them too, except a decimal written as a JSON number, which it
        // reads; the contract declares decimals as text (a number would have lost digits already).
        let number_for_decimal = expected == "expected a decimal as text";
        assert_eq!(oracle(LakeTable::TRADES, &lines).is_err(), !number_for_decimal, "{record}");
    }
    let text = serde_json::to_string(&good).expect("JSON");
    let twice = format!("{},\"venue\":\"binance\"}}\n", &text[..text.len() - 1]);
    let error = decode(LakeTable::TRADES, twice.as_bytes()).expect_err("a property twice");
    assert!(error.contains("`venue` appears twice"), "{error}");
    let trailing = format!("{text} 5\n");
    assert!(decode(LakeTable::TRADES, trailing.as_bytes()).is_err());
    let letter = json!({"reason": "parse_error", "detail": "", "stage": "lake_writer", "source_topic": "t",
        "source_partition": 0, "source_offset": 0, "rejected_at_us": 0, "original_bytes": "not base64!"});
    let error = decode(LakeTable::DEAD_LETTERS, &lines(&[letter])).expect_err("bad base64");
    assert!(error.contains("`original_bytes` is not base64"), "{error}");
}
