//! The stream-processor core's hot path against a parse-only baseline over the same messages.
//!
//! Input: `raw_trades` records from the seeded synthetic market over 1 000 instruments, half
//! Binance-style crypto pairs (trade ids, aggressor sides) and half Finnhub-style equities (no
//! ids, condition codes, price-only updates). Run: `cargo bench -p tickflow-core --bench core_hot_path`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tickflow_core::contract::Venue;
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket, synthetic_reference, venue_frame};
use tickflow_core::validate::{ValidationRules, parse_trade};
use tickflow_core::venue::{NormalizeContext, normalize};

const MESSAGES: usize = 200_000;

struct Input {
    reference: ReferenceData,
    records: Vec<Vec<u8>>,
    frames: Vec<(Venue, String)>,
}

fn input() -> Input {
    let reference = synthetic_reference(1_000);
    let mut market =
        SyntheticMarket::new(&reference, SyntheticConfig { trades_per_second: 20_000.0, ..SyntheticConfig::default() });
    let trades: Vec<_> = (0..MESSAGES).map(|_| market.next_trade()).collect();
    let records = trades.iter().map(|t| serde_json::to_vec(t).expect("serializes")).collect();
    let frames = trades.iter().enumerate().map(|(i, t)| (t.venue, venue_frame(t, i as u64))).collect();
    Input { reference, records, frames }
}

fn new_processor(reference: &ReferenceData) -> StreamProcessor {
    StreamProcessor::new(ProcessorConfig::default(), reference.clone()).expect("default config is valid")
}

fn hot_path(c: &mut Criterion) {
    let input = input();
    let mut check = new_processor(&input.reference);
    let mut metrics = Vec::new();
    let accepted = input.records.iter().filter(|r| check.process(r, &mut metrics).is_ok()).count();
    assert!(accepted * 100 >= MESSAGES * 99, "the benchmark measures accepted trades: {accepted} of {MESSAGES}");
    let rules = ValidationRules::default();

    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.sample_size(20);
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            for record in &input.records {
                let _ = black_box(parse_trade(black_box(record), &rules));
            }
        })
    });
    group.bench_function("process", |b| {
        b.iter_batched(
            || (new_processor(&input.reference), Vec::with_capacity(4_096)),
            |(mut processor, mut metrics)| {
                for record in &input.records {
                    let _ = black_box(processor.process(black_box(record), &mut metrics));
                    metrics.clear();
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("process_and_encode", |b| {
        b.iter_batched(
            || (new_processor(&input.reference), Vec::with_capacity(4_096), Vec::with_capacity(1_024)),
            |(mut processor, mut metrics, mut buffer)| {
                for record in &input.records {
                    if let Ok(enriched) = processor.process(black_box(record), &mut metrics) {
                        buffer.clear();
                        enriched.write_json(&mut buffer);
                    }
                    for metric in metrics.drain(..) {
                        buffer.clear();
                        serde_json::to_writer(&mut buffer, &metric).expect("encodes");
                    }
                    black_box(&buffer);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("normalize_venue_frames", |b| {
        let context =
            NormalizeContext { reference: &input.reference, rules: &rules, receive_time_us: 1_700_000_000_000_000 };
        b.iter(|| {
            for (venue, frame) in &input.frames {
                let _ = black_box(normalize(*venue, black_box(frame.as_bytes()), &context));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
