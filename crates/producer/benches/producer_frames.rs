//! The producer's CPU per trade message, TLS and librdkafka excluded: a venue frame as the venue
//! sends it (Binance combined-stream wrapper, Coinbase `market_trades` update with its sequence
//! number, Finnhub `trade` batch) through the venue's real client (`Protocol::text`: it normalizes
//! the frame, tracks what it tracks from the result and hands the frame on with its trades
//! encoded through the producer's channel) and what is left for the publisher. Baselines in the
//! same run: parsing the frame as JSON and throwing it away, and normalize + encode without a
//! client. Run: `cargo bench -p producer --bench producer_frames`; the same work counted in
//! instructions: `scripts/bench-producer-instructions.sh`.

mod support;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use producer::live::FeedCounters;
use prometheus_client::registry::Registry;
use serde::de::IgnoredAny;
use tickflow_core::contract::Venue;
use tickflow_core::reference::ReferenceData;
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};
use tickflow_service::metrics::ServiceMetrics;

use support::{FRAMES, client_and_publisher, frames, publish};

fn per_message(c: &mut Criterion) {
    let reference = ReferenceData::bundled().expect("reference data");
    let rules = ValidationRules::default();
    let counters = FeedCounters::new(&ServiceMetrics::register(&mut Registry::default()), "bench");
    let mut group = c.benchmark_group("producer");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.sample_size(20);
    for venue in [Venue::Binance, Venue::Coinbase, Venue::Finnhub] {
        let frames = frames(&reference, venue);
        let context = |receive_time_us| NormalizeContext { reference: &reference, rules: &rules, receive_time_us };
        let valid = frames
            .iter()
            .filter(|(f, t)| matches!(normalize(venue, f.as_bytes(), &context(*t)), Ok(VenueFrame::Trades { trades, .. }) if trades.iter().all(Result::is_ok)))
            .count();
        assert!(valid * 100 >= FRAMES * 99, "{venue:?}: the benchmark measures accepted trades: {valid} of {FRAMES}");
        group.bench_function(format!("{}/parse_only", venue.as_str()), |b| {
            b.iter(|| {
                for (frame, _) in &frames {
                    let _ = black_box(serde_json::from_str::<IgnoredAny>(black_box(frame)));
                }
            })
        });
        // Without the client, to show what the client's own work costs.
        group.bench_function(format!("{}/normalize_encode", venue.as_str()), |b| {
            let mut buffer = Vec::with_capacity(1_024);
            b.iter(|| {
                for (frame, receive_time_us) in &frames {
                    publish(venue, frame, &context(*receive_time_us), &mut buffer);
                }
            })
        });
        group.bench_function(format!("{}/client_normalize_encode", venue.as_str()), |b| {
            let mut buffer = Vec::with_capacity(1_024);
            b.iter(|| {
                let encoded = client_and_publisher(venue, &frames, &reference, &rules, &counters, &mut buffer);
                assert!(encoded >= valid, "{venue:?}: the client encoded {encoded} of {valid} accepted trades");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
