//! The lake-writer's CPU per row, librdkafka excluded: `enriched_trades` and `realtime_metrics`
//! records as the stream-processor writes them (from the seeded synthetic market over the bundled
//! 59 instruments, through the real processor) sorted into their files (`Batch::add`) and
//! committed to an in-memory lake (`commit_batch`: marker, JSON decoded against the contract,
//! zstd Parquet). One batch per topic, as one partition's batch at about 100 K trades/s over four
//! partitions with the 5 s flush interval. Baseline in the same run: parsing each record as JSON
//! into nothing; and the commit's halves alone over the same files: `decode_only` (JSON lines to
//! Arrow columns) and `parquet_only` (those columns to zstd Parquet, no JSON at all). Run:
//! `cargo bench -p lake-writer --bench lake_rows`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lake_writer::batch::Batch;
use object_store::memory::InMemory;
use rdkafka::Timestamp;
use rdkafka::message::OwnedMessage;
use serde::de::IgnoredAny;
use tickflow_core::contract::topics::{ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_kafka::{KafkaRecord, OwnedRecord};
use tickflow_lake::commit::commit_batch;
use tickflow_lake::decode::decode_lines;
use tickflow_lake::encode::{FileMetadata, encode_batch};

const TRADES: usize = 120_000;

/// A record of `topic` as the lake-writer's consumer hands it on.
fn stored(topic: &str, offset: usize, key: &[u8], payload: Vec<u8>) -> OwnedRecord {
    let timestamp = Timestamp::CreateTime(1_700_000_000_000);
    OwnedRecord::from(OwnedMessage::new(
        Some(payload),
        Some(key.to_vec()),
        topic.into(),
        timestamp,
        0,
        offset as i64,
        None,
    ))
}

/// The stream-processor's outputs for `TRADES` synthetic trades: (enriched trades, metrics).
fn outputs() -> (Vec<OwnedRecord>, Vec<OwnedRecord>) {
    let reference = ReferenceData::bundled().expect("reference data");
    let mut market = SyntheticMarket::new(&reference, SyntheticConfig::default());
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference.clone()).expect("config");
    let (mut trades, mut metrics, mut emitted) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TRADES {
        let record = serde_json::to_vec(&market.next_trade()).expect("serializes");
        if let Ok(enriched) = processor.process(&record, &mut emitted) {
            let payload = serde_json::to_vec(&enriched).expect("serializes");
            trades.push(stored(ENRICHED_TRADES, trades.len(), enriched.instrument_id.as_bytes(), payload));
        }
        for metric in emitted.drain(..) {
            let payload = serde_json::to_vec(&metric).expect("serializes");
            metrics.push(stored(REALTIME_METRICS, metrics.len(), b"", payload));
        }
    }
    (trades, metrics)
}

fn batch(topic: &'static str, records: &[OwnedRecord]) -> Batch {
    let mut batch = Batch::new(topic, 0, None, None);
    for record in records {
        batch.add(record);
    }
    batch
}

fn per_row(c: &mut Criterion) {
    let (trades, metrics) = outputs();
    let rows = (trades.len() + metrics.len()) as u64;
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut group = c.benchmark_group("lake_writer");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(10);
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            for record in trades.iter().chain(&metrics) {
                let _ = black_box(serde_json::from_slice::<IgnoredAny>(black_box(record.payload())));
            }
        })
    });
    group.bench_function("sort_into_files", |b| {
        b.iter(|| black_box((batch(ENRICHED_TRADES, &trades), batch(REALTIME_METRICS, &metrics))))
    });
    group.bench_function("sort_and_commit", |b| {
        b.iter(|| {
            let store = InMemory::new();
            for (topic, records) in [(ENRICHED_TRADES, &trades), (REALTIME_METRICS, &metrics)] {
                let batch = batch(topic, records);
                let report = runtime.block_on(commit_batch(&store, &batch.to_lake(), false)).expect("commits");
                assert_eq!(report.rejected_rows, 0);
                black_box(report);
            }
        })
    });
    // The commit's two halves over the same files: the JSON lines decoded against the contract,
    // and the decoded columns written as zstd Parquet (what a row costs without any JSON).
    let batches = [batch(ENRICHED_TRADES, &trades), batch(REALTIME_METRICS, &metrics)];
    let files: Vec<_> = batches.iter().flat_map(|batch| batch.files.values()).collect();
    let columns: Vec<_> = files.iter().map(|file| file.table.contract.columns().expect("contract")).collect();
    group.bench_function("decode_only", |b| {
        b.iter(|| {
            for (file, columns) in files.iter().zip(&columns) {
                black_box(decode_lines(columns, &file.lines).expect("decodes"));
            }
        })
    });
    let decoded: Vec<_> = files
        .iter()
        .zip(&columns)
        .map(|(file, columns)| decode_lines(columns, &file.lines).expect("decodes"))
        .collect();
    group.bench_function("parquet_only", |b| {
        b.iter(|| {
            for (file, records) in files.iter().zip(&decoded) {
                let metadata = FileMetadata {
                    topic: "bench".to_owned(),
                    partition: 0,
                    first_offset: file.first_offset,
                    last_offset: file.last_offset,
                    records: file.records,
                    batch_first: 0,
                    batch_last: 0,
                };
                black_box(encode_batch(file.table, records, &metadata).expect("encodes"));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, per_row);
criterion_main!(benches);
