//! The Binance client against the simulator with faults: every trade of the manifest arrives
//! exactly once, with the venue's values, whatever the connection went through.

use std::time::Duration;

use exchange_sim::{Faults, ManifestTrade, Ports, SimConfig, Simulator, Stats};
use producer::live::binance::Binance;
use producer::live::{FeedCounters, Trust};
use producer::source::Frame;
use tickflow_core::contract::{GapReason, Side, Venue};
use tungstenite::protocol::WebSocketConfig;

use crate::harness::{
    Run, assert_delivered_or_reported_missed, assert_exactly_the_manifest, run_with, sim_config, symbols, trust,
};

pub(crate) fn delivered(frame: &Frame) -> Option<Vec<ManifestTrade>> {
    let value: serde_json::Value = serde_json::from_str(&frame.text).ok()?;
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

pub(crate) fn binance(simulator: &Simulator, counters: FeedCounters) -> Binance {
    let (ws, rest) = (format!("ws://{}", simulator.binance_ws), format!("http://{}", simulator.binance_rest));
    Binance::new(&ws, &rest, symbols(Venue::Binance), &Trust::public(), counters)
}

fn run_binance(faults: Faults) -> Run {
    run_with(false, Venue::Binance, faults, 1 << 16, binance, delivered)
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
        Stats::count_of(&stats.disconnects) >= 2
            && Stats::count_of(&stats.stalls) >= 1
            && Stats::count_of(&stats.duplicates) > 10
    );
    // Every drop was followed by a new connection with the same streams.
    assert!(Stats::count_of(&stats.connections) > Stats::count_of(&stats.disconnects));
    assert!(run.counters.silent.get() >= 1, "the watchdog did not notice the stall");
    assert!(run.counters.repeated.get() >= Stats::count_of(&stats.duplicates));
    assert!(run.counters.backfilled.get() > 0, "nothing was fetched over REST");
    assert!(Stats::count_of(&stats.rest_requests) > 0);
    assert!(Stats::count_of(&stats.pongs) > 0, "pings were not answered");
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
    assert!(
        Stats::count_of(&stats.shutdowns) >= 1
            && Stats::count_of(&stats.connections) > Stats::count_of(&stats.shutdowns)
    );
    // Malformed frames are passed on for the producer to dead-letter, not dropped silently.
    assert!(run.other_frames as u64 >= Stats::count_of(&stats.malformed) && Stats::count_of(&stats.malformed) > 0);
}

/// A client that gives up on a failed REST call at once (no retry budget).
fn binance_without_retries(simulator: &Simulator, counters: FeedCounters) -> Binance {
    binance(simulator, counters).with_backfill_budget(Duration::ZERO)
}

#[test]
fn ids_a_failed_backfill_could_not_fetch_are_reported_missed_exactly() {
    let faults = Faults { disconnect_every: Some(150), rest_unavailable: true, ..Faults::default() };
    let run = run_with(false, Venue::Binance, faults, 1 << 16, binance_without_retries, delivered);
    assert!(
        Stats::count_of(&run.simulator.stats.disconnects) >= 2
            && Stats::count_of(&run.simulator.stats.rest_requests) > 0
    );
    assert!(run.received.len() < run.manifest.len(), "nothing was lost");
    assert_delivered_or_reported_missed(&run);
    assert!(run.missed.iter().all(|m| m.reason == GapReason::BackfillFailed));
    assert!(run.missed.iter().any(|m| m.ids.is_some()), "no gap named its ids");
}

fn binance_over_tls(simulator: &Simulator, counters: FeedCounters) -> Binance {
    let (ws, rest) = (format!("wss://{}", simulator.binance_ws), format!("https://{}", simulator.binance_rest));
    Binance::new(&ws, &rest, symbols(Venue::Binance), &trust(simulator), counters)
}

#[test]
fn over_tls_streams_and_backfills_lose_and_repeat_nothing() {
    let faults = Faults { disconnect_every: Some(150), duplicate_every: Some(9), ..Faults::default() };
    let run = run_with(true, Venue::Binance, faults, 1 << 16, binance_over_tls, delivered);
    assert_exactly_the_manifest(&run);
    assert!(Stats::count_of(&run.simulator.stats.disconnects) >= 2);
    assert!(run.counters.backfilled.get() > 0, "nothing was fetched over https");
}

#[test]
fn the_exchanges_certificate_is_verified() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let config = SimConfig {
        seed: 1,
        rate: 10.0,
        max_trades: Some(1),
        ping_interval: Duration::from_secs(1),
        finnhub_token: None,
        tls: true,
        ..sim_config(directory.path().join("manifest.jsonl"))
    };
    let simulator = Simulator::start(config, "127.0.0.1", Ports::default()).expect("simulator");
    let url = format!("wss://{}/stream?streams=btcusdt@trade", simulator.binance_ws);
    let runtime = producer::live::venue_runtime().expect("runtime");
    let connect = |trust: &Trust, url: &str| runtime.block_on(trust.connect(url, WebSocketConfig::default()));
    let refused = connect(&Trust::public(), &url).expect_err("not a public certificate");
    assert!(format!("{refused:#}").contains("UnknownIssuer"), "{refused:#}");
    assert!(connect(&trust(&simulator), &url).is_ok(), "the exchange's own CA is trusted");
    let plain = connect(&Trust::public(), &format!("ws://{}/stream?streams=btcusdt@trade", simulator.binance_ws));
    assert!(plain.is_err(), "a TLS server does not speak plain WebSocket");
}

#[test]
fn an_outage_still_open_at_the_stop_is_reported() {
    let run = run_binance(Faults {
        disconnect_every: Some(150),
        outage: Some(Duration::from_secs(120)),
        ..Faults::default()
    });
    crate::harness::assert_an_outage_open_at_the_stop_was_reported(&run);
    assert!(run.missed.iter().all(|m| m.reason == GapReason::Disconnected && m.ids.is_none()), "{:?}", run.missed);
}

#[test]
fn a_rate_limited_backfill_waits_as_the_venue_says_and_loses_nothing() {
    // After every drop the REST API answers 429 with Retry-After: 1 for 1.5 s.
    let run = run_binance(Faults {
        disconnect_every: Some(150),
        rest_rate_limit: Some(Duration::from_millis(1_500)),
        ..Faults::default()
    });
    assert!(Stats::count_of(&run.simulator.stats.rest_rate_limited) > 0, "the backfill met the rate limit");
    assert_eq!(run.counters.rate_limited.get(), Stats::count_of(&run.simulator.stats.rest_rate_limited));
    assert_exactly_the_manifest(&run);
    assert!(run.counters.backfilled.get() > 0);
}

#[test]
fn a_refused_backfill_is_a_counted_venue_error_before_it_is_a_gap() {
    let faults = Faults {
        disconnect_every: Some(150),
        rest_api_key: Some("the-key-this-host-wants".into()),
        ..Faults::default()
    };
    let run = run_with(false, Venue::Binance, faults, 1 << 16, binance, delivered);
    assert!(Stats::count_of(&run.simulator.stats.rest_refused) > 0);
    assert!(
        run.counters.venue_errors.get() >= Stats::count_of(&run.simulator.stats.rest_refused),
        "every refusal counted"
    );
    assert_eq!(
        Stats::count_of(&run.simulator.stats.rest_refused),
        Stats::count_of(&run.simulator.stats.rest_requests),
        "no retry"
    );
    assert_delivered_or_reported_missed(&run);
    assert!(run.missed.iter().all(|m| m.reason == GapReason::BackfillFailed), "{:?}", run.missed);
    assert!(crate::logs::text().contains("Binance refused the backfill"), "a clear log line");
}

const CANARY: &str = "binance-canary-3f9d0c71e4";

fn binance_with_key(simulator: &Simulator, counters: FeedCounters) -> Binance {
    binance(simulator, counters).with_api_key(producer::live::finnhub::ApiKey::new(CANARY.into()))
}

#[test]
fn a_key_the_host_wants_is_sent_and_never_logged() {
    let faults = Faults { disconnect_every: Some(150), rest_api_key: Some(CANARY.into()), ..Faults::default() };
    let run = run_with(false, Venue::Binance, faults, 1 << 16, binance_with_key, delivered);
    assert_eq!(Stats::count_of(&run.simulator.stats.rest_refused), 0);
    assert_exactly_the_manifest(&run);
    assert!(!crate::logs::text().contains(CANARY), "the key reached a log line");
    assert!(!format!("{:?}", producer::live::finnhub::ApiKey::new(CANARY.into())).contains(CANARY));
}
