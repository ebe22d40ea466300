//! The producer's CPU per trade message, TLS and librdkafka excluded: a venue frame as the venue
//! sends it (Binance combined-stream wrapper, Coinbase `market_trades` update with its sequence
//! number, Finnhub `trade` batch) through what the client does with it (Binance: trade id read
//! and checked; Coinbase: message parsed for its sequence number and trade ids) and what the
//! publisher does (normalize to the trade contract, encode the `raw_trades` record). Baseline in
//! the same run: parsing the frame as JSON and throwing it away.
//! Run: `cargo bench -p producer --bench producer_frames`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::de::IgnoredAny;
use tickflow_core::contract::Venue;
use tickflow_core::feed::TradeIds;
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket, venue_frame};
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{BinanceEvent, NormalizeContext, VenueFrame, binance_event, finnhub_trade_times, normalize};

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

/// What the venue's client does with a frame before handing it on.
fn client(venue: Venue, frame: &str, ids: &mut TradeIds) {
    match venue {
        Venue::Binance => {
            if let BinanceEvent::Trade { symbol, id, time_us } = binance_event(frame.as_bytes()) {
                black_box(ids.check(&symbol, id, time_us));
            }
        }
        Venue::Coinbase => {
            let message: serde_json::Value = serde_json::from_str(frame).expect("frame");
            black_box(message["sequence_num"].as_u64());
        }
        Venue::Finnhub => finnhub_trade_times(frame.as_bytes(), |symbol, time_us| {
            black_box((symbol, time_us));
        }),
    }
}

fn per_message(c: &mut Criterion) {
    let reference = ReferenceData::bundled().expect("reference data");
    let rules = ValidationRules::default();
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
                    let context = context(*receive_time_us);
                    if let Ok(VenueFrame::Trades { trades, .. }) = normalize(venue, frame.as_bytes(), &context) {
                        for trade in trades.into_iter().flatten() {
                            buffer.clear();
                            serde_json::to_writer(&mut buffer, &trade).expect("encodes");
                            black_box(&buffer);
                        }
                    }
                }
            })
        });
        group.bench_function(format!("{}/client_normalize_encode", venue.as_str()), |b| {
            let mut buffer = Vec::with_capacity(1_024);
            b.iter(|| {
                let mut ids = TradeIds::default();
                for (frame, receive_time_us) in &frames {
                    client(venue, black_box(frame), &mut ids);
                    let context = context(*receive_time_us);
                    if let Ok(VenueFrame::Trades { trades, .. }) = normalize(venue, frame.as_bytes(), &context) {
                        for trade in trades.into_iter().flatten() {
                            buffer.clear();
                            serde_json::to_writer(&mut buffer, &trade).expect("encodes");
                            black_box(&buffer);
                        }
                    }
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
