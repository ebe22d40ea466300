//! What the producer's CPU benchmarks feed and run: venue frames from the seeded synthetic
//! market, the venue's real client, and what the publisher does with what the client hands on.
//! Shared by `benches/producer_frames.rs` (time) and `examples/producer_instructions.rs`
//! (instructions, under callgrind).

use std::hint::black_box;
use std::sync::mpsc::{Receiver, sync_channel};

use producer::live::binance::Binance;
use producer::live::coinbase::Coinbase;
use producer::live::finnhub::{ApiKey, Finnhub};
use producer::live::{ClientOutput, FeedCounters, Protocol, Trust};
use producer::source::{Frame, Received};
use tickflow_core::contract::Venue;
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket, venue_frame};
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};

pub const FRAMES: usize = 50_000;

/// Frames of `venue` with their receive times.
pub fn frames(reference: &ReferenceData, venue: Venue) -> Vec<(String, i64)> {
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
pub fn client(venue: Venue, counters: FeedCounters) -> Box<dyn Protocol> {
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
pub fn publish(venue: Venue, frame: &str, context: &NormalizeContext<'_>, buffer: &mut Vec<u8>) {
    if let Ok(VenueFrame::Trades { trades, .. }) = normalize(venue, frame.as_bytes(), context) {
        for trade in trades.into_iter().flatten() {
            buffer.clear();
            trade.write_json(buffer);
            black_box(&buffer);
        }
    }
}

/// A venue's client reading `frames` as the producer runs it, and what is left for the publisher:
/// records go out as they are, a frame handed on without them is normalized and encoded there.
/// Returns how many trades the client encoded itself.
pub fn client_and_publisher(
    venue: Venue,
    frames: &[(String, i64)],
    reference: &ReferenceData,
    rules: &ValidationRules,
    counters: &FeedCounters,
    buffer: &mut Vec<u8>,
) -> usize {
    let context = |receive_time_us| NormalizeContext { reference, rules, receive_time_us };
    let mut client = client(venue, counters.clone());
    let (handed_on, received) = sync_channel(FRAMES);
    let out = ClientOutput::new(venue, reference, handed_on);
    let mut encoded = 0;
    for (frame, receive_time_us) in frames {
        client.text(black_box(frame), *receive_time_us, &out).expect("client");
        encoded += publish_handed_on(venue, &received, &context, buffer);
    }
    encoded
}

fn publish_handed_on<'r>(
    venue: Venue,
    received: &Receiver<Received>,
    context: &impl Fn(i64) -> NormalizeContext<'r>,
    buffer: &mut Vec<u8>,
) -> usize {
    let mut encoded = 0;
    for received in received.try_iter() {
        match received {
            Received::Frame(Frame { records: Some(records), .. }) => {
                encoded += records.len();
                black_box(records);
            }
            Received::Frame(frame) => publish(venue, &frame.text, &context(frame.receive_time_us), buffer),
            other => panic!("{venue:?}: the client handed on {other:?}"),
        }
    }
    encoded
}
