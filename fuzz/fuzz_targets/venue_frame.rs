//! One venue frame through the producer's normalizer. The first byte picks the venue (Binance,
//! Coinbase, Finnhub), the rest is the frame as it came off the WebSocket.
//!
//! Holds: no panic, whatever the bytes; and every trade the normalizer accepts, serialized as the
//! producer writes it to `raw_trades`, passes the stream-processor's validation unchanged (what
//! one side lets through, the other must not reject).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tickflow_core::contract::Venue;
use tickflow_core::reference::ReferenceData;
use tickflow_core::validate::{ValidationRules, parse_trade};
use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};

static REFERENCE: LazyLock<ReferenceData> = LazyLock::new(|| ReferenceData::bundled().expect("bundled reference data"));
const RECEIVED_US: i64 = 1_700_000_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else { return };
    let venue = [Venue::Binance, Venue::Coinbase, Venue::Finnhub][selector as usize % 3];
    let rules = ValidationRules::default();
    let context = NormalizeContext { reference: &REFERENCE, rules: &rules, receive_time_us: RECEIVED_US };
    let Ok(VenueFrame::Trades { trades, .. }) = normalize(venue, frame, &context) else { return };
    for trade in trades.iter().flatten() {
        let wire = serde_json::to_vec(trade).expect("a normalized trade serializes");
        if let Err(rejection) = parse_trade(&wire, &rules) {
            panic!("accepted by the producer, rejected by the processor ({rejection:?}): {}", String::from_utf8_lossy(&wire));
        }
    }
});
