//! The Binance client against the simulator with faults: every trade of the manifest arrives
//! exactly once, with the venue's values, whatever the connection went through.

use std::time::Duration;

use exchange_sim::{Faults, ManifestTrade, Simulator, Stats};
use producer::live::FeedCounters;
use producer::live::binance::Binance;
use producer::source::Frame;
use tickflow_core::contract::{GapReason, Side, Venue};

use crate::harness::{Run, assert_delivered_or_reported_missed, assert_exactly_the_manifest, run_against, symbols};

fn delivered(frame: &Frame) -> Option<Vec<ManifestTrade>> {
    let value: serde_json::Value = serde_json::from_str(&frame.frame).ok()?;
    let data = value.get("data").unwrap_or(&value);
    if data["e"] != "trade" {
        return None;
    }
    Some(vec![ManifestTrade {
        venue: Venue::Binance,
        symbol: data["s"].as_str()?.to_owned(),
        id: data["t"].as_u64()?,
        price: data["p"].as_str()?.to_owned(),
        qty: data["q"].as_str()?.to_owned(),
        time_us: data["T"].as_i64()? * 1000,
        side: if data["m"].as_bool()? { Side::Sell } else { Side::Buy },
        conditions: Vec::new(),
    }])
}

fn binance(simulator: &Simulator, counters: FeedCounters) -> Binance {
    let (ws, rest) = (format!("ws://{}", simulator.binance_ws), format!("http://{}", simulator.binance_rest));
    Binance::new(&ws, &rest, symbols(Venue::Binance), counters)
}

fn run_binance(faults: Faults) -> Run {
    run_against(Venue::Binance, faults, 1 << 16, binance, delivered)
}

#[test]
fn disconnects_stalls_and_duplicates_lose_and_repeat_nothing() {
    let run = run_binance(Faults {
        disconnect_every: Some(120),
        stall_every: Some(310),
        stall: Duration::from_millis(1_500),
        duplicate_every: Some(9),
        ..Faults::default()
    });
    assert_exactly_the_manifest(&run);
    let stats = &run.simulator.stats;
    assert!(
        Stats::get(&stats.disconnects) >= 2 && Stats::get(&stats.stalls) >= 1 && Stats::get(&stats.duplicates) > 10
    );
    // Every drop was followed by a new connection with the same streams.
    assert!(Stats::get(&stats.connections) > Stats::get(&stats.disconnects));
    assert!(run.counters.silent.get() >= 1, "the watchdog did not notice the stall");
    assert!(run.counters.repeated.get() >= Stats::get(&stats.duplicates));
    assert!(run.counters.backfilled.get() > 0, "nothing was fetched over REST");
    assert!(Stats::get(&stats.rest_requests) > 0);
    assert!(Stats::get(&stats.pongs) > 0, "pings were not answered");
}

#[test]
fn oversized_malformed_frames_and_maintenance_are_survived() {
    let run = run_binance(Faults {
        oversized_every: Some(300),
        oversized_bytes: 1 << 16,
        malformed_every: Some(50),
        shutdown_every: Some(400),
        ..Faults::default()
    });
    assert_exactly_the_manifest(&run);
    let stats = &run.simulator.stats;
    assert!(run.counters.refused_frames.get() >= 1, "an oversized frame was not refused");
    assert!(Stats::get(&stats.shutdowns) >= 1 && Stats::get(&stats.connections) > Stats::get(&stats.shutdowns));
    // Malformed frames are passed on for the producer to dead-letter, not dropped silently.
    assert!(run.other_frames as u64 >= Stats::get(&stats.malformed) && Stats::get(&stats.malformed) > 0);
}

#[test]
fn ids_a_failed_backfill_could_not_fetch_are_reported_missed_exactly() {
    let run = run_binance(Faults { disconnect_every: Some(150), rest_unavailable: true, ..Faults::default() });
    assert!(Stats::get(&run.simulator.stats.disconnects) >= 2 && Stats::get(&run.simulator.stats.rest_requests) > 0);
    assert!(run.received.len() < run.manifest.len(), "nothing was lost");
    assert_delivered_or_reported_missed(&run);
    assert!(run.missed.iter().all(|m| m.reason == GapReason::BackfillFailed));
    assert!(run.missed.iter().any(|m| m.ids.is_some()), "no gap named its ids");
}
