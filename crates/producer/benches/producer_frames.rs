//! The producer's CPU per trade message, TLS and librdkafka excluded: a venue frame as the venue
//! sends it (Binance combined-stream wrapper, Coinbase `market_trades` update with its sequence
//! number, Finnhub `trade` batch) through the venue's real client (`Protocol::text`: what it reads
//! and tracks, and handing the frame on through the producer's channel) and what the publisher
//! does (normalize to the trade contract, encode the `raw_trades` record). Baselines in the same
//! run: parsing the frame as JSON and throwing it away, and normalize + encode without a client.
//! Run: `cargo bench -p producer --bench producer_frames`.

use std::hint::black_box;
use std::sync::mpsc::sync_channel;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use producer::live::binance::Binance;
use producer::live::coinbase::Coinbase;
use producer::live::finnhub::{ApiKey, Finnhub};
use producer::live::{ClientOutput, FeedCounters, Protocol, Trust};
use prometheus_client::registry::Registry;
use serde::de::IgnoredAny;
use tickflow_core::contract::Venue;
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket, venue_frame};
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};
use tickflow_service::metrics::ServiceMetrics;

const FRAMES: usize = 50_000;

/// Frames of `venue` with their receive times.
fn frames(reference: &ReferenceData, venue: Venue) -> Vec<(String, i64)> {
    let mut market = SyntheticMarket::new(reference, SyntheticConfig::default());
    let mut frames = Vec::with_capacity(FRAMES);
    let mut n = 0u64;
    while frames.len() < FRAMES {
        let trade = market.next_trade();
        if trade.venue != venue || trade.price_only {
            continue;
        }
        n += 1;
        let frame = venue_frame(&trade, n);
        let frame = match venue {
            Venue::Binance => format!(r#"{{"stream":"{}@trade","data":{frame}}}"#, trade.venue_symbol.to_lowercase()),
            _ => frame,
        };
        frames.push((frame, trade.receive_time_us));
    }
    frames
}

/// The venue's client, as the producer runs it (no connection is made: only `text` is called).
fn client(venue: Venue, counters: FeedCounters) -> Box<dyn Protocol> {
    match venue {
        Venue::Binance => {
            Box::new(Binance::new("ws://127.0.0.1:9", "http://127.0.0.1:9", Vec::new(), &Trust::public(), counters))
        }
        Venue::Coinbase => Box::new(Coinbase::new("ws://127.0.0.1:9", Vec::new(), counters)),
        Venue::Finnhub => Box::new(
            Finnhub::new("ws://127.0.0.1:9", ApiKey::new("bench".into()), Vec::new(), counters).expect("client"),
        ),
    }
}

/// What the publisher does with a frame: normalize it, encode each trade as a `raw_trades` record.
fn publish(venue: Venue, frame: &str, context: &NormalizeContext<'_>, buffer: &mut Vec<u8>) {
    if let Ok(VenueFrame::Trades { trades, .. }) = normalize(venue, frame.as_bytes(), context) {
        for trade in trades.into_iter().flatten() {
            buffer.clear();
            trade.write_json(buffer);
            black_box(&buffer);
        }
    }
}

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
        // Without the client, to show what the client's own reading of the frame costs.
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
                let mut client = client(venue, counters.clone());
                let (handed_on, received) = sync_channel(FRAMES);
                let out = ClientOutput::new(venue, handed_on);
                for (frame, receive_time_us) in &frames {
                    client.text(black_box(frame), *receive_time_us, &out).expect("client");
                    publish(venue, frame, &context(*receive_time_us), &mut buffer);
                }
                assert_eq!(received.try_iter().count(), FRAMES, "the client handed on every frame");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
