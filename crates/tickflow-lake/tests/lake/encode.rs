//! Real records from the core become Parquet with exact decimals, UTC timestamps and metadata.

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, TimestampMicrosecondType};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tickflow_core::contract::{DeadLetter, RejectReason, Stage};
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_lake::LakeTable;
use tickflow_lake::encode::{FileMetadata, encode_records, read_metadata, row_count};

fn metadata(records: u64) -> FileMetadata {
    FileMetadata {
        topic: "enriched_trades".into(),
        partition: 1,
        first_offset: 10,
        last_offset: 10 + records as i64 - 1,
        records,
        batch_first: 5,
        batch_last: 99,
    }
}

fn enriched_lines(count: usize) -> (Vec<u8>, Vec<serde_json::Value>) {
    let reference = ReferenceData::bundled().expect("reference");
    let mut market = SyntheticMarket::new(&reference, SyntheticConfig::default());
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference).expect("processor");
    let (mut lines, mut values) = (Vec::new(), Vec::new());
    while values.len() < count {
        let record = serde_json::to_vec(&market.next_trade()).expect("encodes");
        if let Ok(enriched) = processor.process(&record, &mut Vec::new()) {
            let line = serde_json::to_vec(&enriched).expect("encodes");
            values.push(serde_json::from_slice(&line).expect("JSON"));
            lines.extend_from_slice(&line);
            lines.push(b'\n');
        }
    }
    (lines, values)
}

#[test]
fn enriched_trades_become_parquet_with_exact_types() {
    let (lines, values) = enriched_lines(500);
    let file = encode_records(LakeTable::TRADES, &lines, &metadata(500)).expect("encodes");
    assert_eq!(read_metadata(&file), Some(metadata(500)));
    assert_eq!(row_count(&file), Some(500));
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(Bytes::clone(&file)).expect("parquet").build().expect("reader");
    let batch = reader.into_iter().next().expect("a batch").expect("readable");
    let price = batch.column_by_name("price").expect("price").as_primitive::<Decimal128Type>();
    let event = batch.column_by_name("event_time_us").expect("time").as_primitive::<TimestampMicrosecondType>();
    for (row, value) in values.iter().enumerate().take(50) {
        let text = value["price"].as_str().expect("price text");
        let expected = rust_decimal_units(text);
        assert_eq!(price.value(row), expected, "row {row}: {text}");
        assert_eq!(event.value(row), value["event_time_us"].as_i64().expect("time"));
    }
}

/// `"129.58"` as units of 1e-8, computed independently of the core's decimal type.
fn rust_decimal_units(text: &str) -> i128 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let padded = format!("{fraction:0<8}");
    whole.parse::<i128>().expect("whole") * 100_000_000 + padded.parse::<i128>().expect("fraction")
}

#[test]
fn records_that_break_the_contract_are_refused() {
    let bad = b"{\"trade_key\":\"x\",\"unexpected\":1}\n";
    assert!(encode_records(LakeTable::TRADES, bad, &metadata(1)).is_err());
}

#[test]
fn dead_letters_keep_their_original_bytes() {
    let letter = DeadLetter {
        reason: RejectReason::ParseError,
        detail: "not valid JSON".into(),
        stage: Stage::StreamProcessor,
        source_topic: "raw_trades".into(),
        source_partition: 0,
        source_offset: 7,
        rejected_at_us: 1_700_000_000_000_000,
        original_bytes: vec![0, 159, 146, 150, b'{'],
    };
    let mut line = serde_json::to_vec(&letter).expect("encodes");
    line.push(b'\n');
    let file = encode_records(LakeTable::DEAD_LETTERS, &line, &metadata(1)).expect("encodes");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    let batch = reader.into_iter().next().expect("a batch").expect("readable");
    let bytes = batch.column_by_name("original_bytes").expect("column").as_binary::<i32>();
    assert_eq!(bytes.value(0), letter.original_bytes.as_slice());
}

#[test]
fn text_columns_of_one_value_are_left_uncompressed_and_the_rest_is_zstd() {
    let (lines, values) = enriched_lines(300);
    let one_instrument: Vec<u8> = lines
        .split(|&b| b == b'\n')
        .zip(&values)
        .filter(|(_, value)| value["instrument_id"] == values[0]["instrument_id"])
        .flat_map(|(line, _)| line.iter().copied().chain([b'\n']))
        .collect();
    let rows = one_instrument.iter().filter(|&&b| b == b'\n').count() as u64;
    let file = encode_records(LakeTable::TRADES, &one_instrument, &metadata(rows)).expect("encodes");
    let parquet = parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(&file).expect("footer");
    let group = parquet.row_group(0);
    let codec =
        |name: &str| group.columns().iter().find(|c| c.column_path().string() == name).expect("column").compression();
    assert_eq!(codec("venue"), parquet::basic::Compression::UNCOMPRESSED);
    assert_eq!(codec("exchange"), parquet::basic::Compression::UNCOMPRESSED);
    assert!(matches!(codec("trade_key"), parquet::basic::Compression::ZSTD(_)));
    assert!(matches!(codec("price"), parquet::basic::Compression::ZSTD(_)));
}
