//! The lake-writer's CPU per row, librdkafka excluded: `enriched_trades` and `realtime_metrics`
//! records as the stream-processor writes them (from the seeded synthetic market over the bundled
//! 59 instruments, through the real processor) sorted into their files (`Batch::add`) and
//! committed to an in-memory lake (`commit_batch`: marker, JSON decoded against the contract,
//! zstd Parquet). One batch per topic, as one partition's batch at about 100 K trades/s over four
//! partitions with the 5 s flush interval. Baseline in the same run: parsing each record as JSON
//! into nothing. Run: `cargo bench -p lake-writer --bench lake_rows`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lake_writer::batch::Batch;
use object_store::memory::InMemory;
use serde::de::IgnoredAny;
use tickflow_core::contract::DeadLetter;
use tickflow_core::contract::topics::{ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_kafka::KafkaRecord;
use tickflow_kafka::headers::{Provenance, RecordKind};
use tickflow_lake::commit::commit_batch;

const TRADES: usize = 120_000;

/// A record as the lake-writer's consumer hands it on.
struct Stored {
    offset: i64,
    key: Vec<u8>,
    payload: Vec<u8>,
}

impl KafkaRecord for Stored {
    fn topic(&self) -> &str {
        ""
    }
    fn partition(&self) -> i32 {
        0
    }
    fn offset(&self) -> i64 {
        self.offset
    }
    fn key(&self) -> &[u8] {
        &self.key
    }
    fn payload(&self) -> &[u8] {
        &self.payload
    }
    fn header(&self, _: &str) -> Option<&[u8]> {
        None
    }
    fn kind(&self) -> RecordKind {
        RecordKind::Trade
    }
    fn provenance(&self) -> Option<Provenance> {
        None
    }
    fn dead_letter(&self) -> Option<DeadLetter> {
        None
    }
    fn timestamp_ms(&self) -> Option<i64> {
        Some(1_700_000_000_000)
    }
}

/// The stream-processor's outputs for `TRADES` synthetic trades: (enriched trades, metrics).
fn outputs() -> (Vec<Stored>, Vec<Stored>) {
    let reference = ReferenceData::bundled().expect("reference data");
    let mut market = SyntheticMarket::new(&reference, SyntheticConfig::default());
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference.clone()).expect("config");
    let (mut trades, mut metrics, mut emitted) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TRADES {
        let record = serde_json::to_vec(&market.next_trade()).expect("serializes");
        if let Ok(enriched) = processor.process(&record, &mut emitted) {
            let payload = serde_json::to_vec(&enriched).expect("serializes");
            let key = enriched.instrument_id.as_bytes().to_vec();
            trades.push(Stored { offset: trades.len() as i64, key, payload });
        }
        for metric in emitted.drain(..) {
            let payload = serde_json::to_vec(&metric).expect("serializes");
            metrics.push(Stored { offset: metrics.len() as i64, key: Vec::new(), payload });
        }
    }
    (trades, metrics)
}

fn batch(topic: &'static str, records: &[Stored]) -> Batch {
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
                let _ = black_box(serde_json::from_slice::<IgnoredAny>(black_box(&record.payload)));
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
    group.finish();
}

criterion_group!(benches, per_row);
criterion_main!(benches);
