//! The Coinbase client against the simulator with faults: every trade of the manifest arrives
//! exactly once, with the venue's values, whatever the connection went through.

use std::time::Duration;

use exchange_sim::{Faults, ManifestTrade, Simulator, Stats};
use producer::live::FeedCounters;
use producer::live::coinbase::Coinbase;
use producer::source::Frame;
use tickflow_core::contract::{GapReason, Venue};

use crate::harness::{Run, assert_delivered_or_reported_missed, assert_exactly_the_manifest, run_with, symbols};

pub(crate) fn delivered(frame: &Frame) -> Option<Vec<ManifestTrade>> {
    let value: serde_json::Value = serde_json::from_str(&frame.text).ok()?;
    if value["channel"] != "market_trades" {
        return None;
    }
    let trades = value["events"].as_array()?.iter().flat_map(|e| e["trades"].as_array().cloned().unwrap_or_default());
    trades
        .map(|t| {
            Some(ManifestTrade {
                venue: Venue::Coinbase,
                symbol: t["product_id"].as_str()?.to_owned(),
                id: t["trade_id"].as_str()?.parse().ok()?,
                price: t["price"].as_str()?.to_owned(),
                qty: t["size"].as_str()?.to_owned(),
                time_us: chrono::DateTime::parse_from_rfc3339(t["time"].as_str()?).ok()?.timestamp_micros(),
                side: tickflow_core::venue::coinbase_aggressor_side(t["side"].as_str()?),
                conditions: Vec::new(),
            })
        })
        .collect()
}

pub(crate) fn coinbase(simulator: &Simulator, counters: FeedCounters) -> Coinbase {
    Coinbase::new(&format!("ws://{}", simulator.coinbase_ws), symbols(Venue::Coinbase), counters)
}

fn run_coinbase(faults: Faults) -> Run {
    run_with(false, Venue::Coinbase, faults, 1 << 16, coinbase, delivered)
}

#[test]
fn lost_messages_disconnects_and_duplicates_are_recovered_from_snapshots() {
    // The simulator counts a venue's messages for its faults: every 20th is lost, every 50th drops.
    let run = run_coinbase(Faults {
        disconnect_every: Some(50),
        sequence_gap_every: Some(20),
        duplicate_every: Some(9),
        ..Faults::default()
    });
    assert_exactly_the_manifest(&run);
    let stats = &run.simulator.stats;
    assert!(Stats::count_of(&stats.sequence_gaps) >= 2 && Stats::count_of(&stats.disconnects) >= 1);
    assert!(run.counters.gaps.get() >= 1, "no sequence gap was noticed");
    // Lost messages are recovered by a new subscription on the same connection, not a reconnect.
    assert!(run.counters.resubscriptions.get() >= 1, "lost messages did not resubscribe");
    assert_eq!(
        Stats::count_of(&stats.connections),
        Stats::count_of(&stats.disconnects) + 1,
        "only the drops reconnected"
    );
    assert!(
        run.counters.repeated.get() >= Stats::count_of(&stats.duplicates),
        "duplicates or the snapshot overlap were kept"
    );
    assert!(
        Stats::count_of(&stats.subscriptions) >= 2 * Stats::count_of(&stats.connections),
        "both channels on every connection"
    );
    assert_eq!(run.counters.unrecovered.get(), 0);
}

#[test]
fn a_stall_longer_than_the_watchdog_reconnects_and_heartbeats_keep_a_quiet_feed_open() {
    let run = run_coinbase(Faults { stall_every: Some(60), stall: Duration::from_millis(1_500), ..Faults::default() });
    assert_exactly_the_manifest(&run);
    assert!(Stats::count_of(&run.simulator.stats.stalls) >= 1 && run.counters.silent.get() >= 1);
    assert!(Stats::count_of(&run.simulator.stats.pings) > 0, "no heartbeats were sent");
}

#[test]
fn more_missed_than_a_snapshot_holds_is_reported_missed_exactly() {
    // A stall (the watchdog reconnects after 1 s) misses more than the snapshot of a new
    // subscription brings back (made short here: 5 trades per product).
    let run = run_coinbase(Faults {
        stall_every: Some(100),
        stall: Duration::from_millis(2_500),
        short_snapshot: Some(5),
        ..Faults::default()
    });
    assert!(Stats::count_of(&run.simulator.stats.stalls) >= 1 && run.counters.silent.get() >= 1);
    assert_delivered_or_reported_missed(&run);
    assert!(run.missed.iter().all(|m| m.reason == GapReason::BeyondSnapshot && m.ids.is_some()));
}

#[test]
fn an_outage_still_open_at_the_stop_is_reported() {
    let run = run_coinbase(Faults {
        disconnect_every: Some(60),
        outage: Some(Duration::from_secs(120)),
        ..Faults::default()
    });
    crate::harness::assert_an_outage_open_at_the_stop_was_reported(&run);
}

#[test]
fn the_default_watchdog_follows_the_venues_heartbeat() {
    // Heartbeats come every 200 ms here: a 5 s stall is noticed by Coinbase's own default
    // (three heartbeat periods of the real venue, 3 s), not only after a minute.
    let setup = crate::harness::Setup {
        tls: false,
        venue: Venue::Coinbase,
        faults: Faults { stall_every: Some(60), stall: Duration::from_secs(5), ..Faults::default() },
        max_frame_bytes: 1 << 16,
        watchdog: None,
        capture: None,
    };
    let run = crate::harness::run_client(setup, coinbase, delivered);
    assert!(Stats::count_of(&run.simulator.stats.stalls) >= 1);
    assert!(run.counters.silent.get() >= 1, "the stall was taken for a dead connection");
    assert_exactly_the_manifest(&run);
}

#[test]
fn updates_of_many_trades_newest_first_are_one_message_not_a_gap() {
    // The venue collects a product's trades of a moment into one update and lists them newest
    // first; the trades of one message are judged as a set, so this is no gap and no reconnect.
    let run = run_coinbase(Faults::default());
    assert!(Stats::count_of(&run.simulator.stats.multi_trade_messages) > 10, "the simulator batches like the venue");
    assert_exactly_the_manifest(&run);
    assert_eq!((run.counters.gaps.get(), run.counters.reconnects.get()), (0, 0), "no gap, no reconnect");
    assert_eq!(Stats::count_of(&run.simulator.stats.connections), 1);
}
