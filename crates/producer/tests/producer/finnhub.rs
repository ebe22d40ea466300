//! The Finnhub client against the simulator: trades arrive as the venue made them, outages are
//! reported as unrecoverable gaps, a wrong key is refused and the key never shows in a log line,
//! an error or a metric.

use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use exchange_sim::{Faults, ManifestTrade, Ports, SimConfig, Simulator, Stats};
use producer::live::finnhub::{ApiKey, Finnhub, MAX_SYMBOLS_PER_KEY};
use producer::live::{self, FeedCounters, LiveOptions};
use producer::source::{Frame, Received};
use prometheus_client::registry::Registry;
use tickflow_core::contract::{GapReason, Side, Venue};
use tickflow_core::feed::Backoff;
use tickflow_core::reference::ReferenceData;
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::shutdown::Shutdown;

use crate::harness::{assert_delivered_or_reported_missed, assert_exactly_the_manifest, run_with, sim_config, symbols};

/// The key the simulator accepts.
pub const KEY: &str = "sim-finnhub-key";
/// A key that must never be seen outside the client.
const CANARY: &str = "canary-7c1e5b93d2a84f06";

pub(crate) fn delivered(frame: &Frame) -> Option<Vec<ManifestTrade>> {
    let value: serde_json::Value = serde_json::from_str(&frame.text).ok()?;
    if value["type"] != "trade" {
        return None;
    }
    value["data"]
        .as_array()?
        .iter()
        .map(|t| {
            Some(ManifestTrade {
                venue: Venue::Finnhub,
                symbol: t["s"].as_str()?.to_owned(),
                id: 0,
                price: t["p"].to_string(),
                qty: t["v"].to_string(),
                time_us: t["t"].as_i64()? * 1000,
                side: Side::Unknown,
                conditions: t["c"].as_array()?.iter().filter_map(|c| c.as_str().map(String::from)).collect(),
            })
        })
        .collect()
}

pub(crate) fn finnhub(simulator: &Simulator, counters: FeedCounters) -> Finnhub {
    let url = format!("ws://{}", simulator.finnhub_ws);
    Finnhub::new(&url, ApiKey::new(KEY.into()), symbols(Venue::Finnhub), counters).expect("at most 50 symbols")
}

#[test]
fn every_trade_arrives_as_the_venue_made_it() {
    let run = run_with(false, Venue::Finnhub, Faults::default(), 1 << 16, finnhub, delivered);
    assert_exactly_the_manifest(&run);
    assert!(Stats::count_of(&run.simulator.stats.subscriptions) as usize >= symbols(Venue::Finnhub).len());
}

#[test]
fn what_an_outage_may_have_lost_is_reported_per_symbol_and_nothing_else_is_lost() {
    let run = run_with(
        false,
        Venue::Finnhub,
        Faults { disconnect_every: Some(40), ..Faults::default() },
        1 << 16,
        finnhub,
        delivered,
    );
    let disconnects = Stats::count_of(&run.simulator.stats.disconnects);
    assert!(disconnects >= 2);
    // What the venue sent arrived; what happened while disconnected is gone, and reported: every
    // trade not delivered lies in a reported gap of its symbol.
    assert!(run.received.len() < run.manifest.len());
    assert_delivered_or_reported_missed(&run);
    assert!(run.missed.iter().all(|m| m.reason == GapReason::Disconnected && m.ids.is_none() && m.from_us <= m.to_us));
    let symbols: std::collections::BTreeSet<_> = run.missed.iter().map(|m| &m.venue_symbol).collect();
    assert!(symbols.len() > 1, "gaps are per symbol");
}

#[test]
fn more_symbols_than_a_key_allows_are_refused_before_connecting() {
    let metrics = ServiceMetrics::register(&mut Registry::default());
    let many: Vec<String> = (0..=MAX_SYMBOLS_PER_KEY).map(|n| format!("S{n}")).collect();
    let error = Finnhub::new("ws://127.0.0.1:1", ApiKey::new(KEY.into()), many, FeedCounters::new(&metrics, "f"))
        .expect_err("51 symbols");
    assert!(error.to_string().contains("about 50 symbols per API key"), "{error}");
}

/// A client with `key` against a simulator that wants `KEY` and allows `max_symbols`, run until
/// `done` holds or 20 s pass.
fn brief(
    key: &str,
    max_symbols: usize,
    done: fn(&Simulator, &FeedCounters) -> bool,
) -> (Simulator, FeedCounters, Registry) {
    crate::logs::capture();
    let directory = tempfile::tempdir().expect("temporary directory");
    let config = SimConfig {
        seed: 1,
        rate: 100.0,
        max_trades: Some(10),
        open_on_first_connection: false,
        finnhub_max_symbols: max_symbols,
        ..sim_config(directory.path().join("manifest.jsonl"))
    };
    let simulator = Simulator::start(config, "127.0.0.1", Ports::default()).expect("simulator");
    let mut registry = Registry::default();
    let metrics = ServiceMetrics::register(&mut registry);
    let counters = FeedCounters::new(&metrics, "finnhub");
    let url = format!("ws://{}", simulator.finnhub_ws);
    let client =
        Finnhub::new(&url, ApiKey::new(key.into()), symbols(Venue::Finnhub), counters.clone()).expect("client");
    let options = LiveOptions {
        watchdog: Some(Duration::from_secs(1)),
        backoff: Backoff { base: Duration::from_millis(10), cap: Duration::from_millis(50) },
        max_frame_bytes: 1 << 16,
        max_connection_age: Duration::from_secs(60),
        trust: live::Trust::public(),
    };
    let (frames_tx, _frames) = sync_channel::<Received>(100_000);
    let shutdown = Shutdown::manual();
    let thread = {
        let (stop, counters) = (shutdown.clone(), counters.clone());
        let runtime = live::venue_runtime().expect("runtime");
        let out = live::ClientOutput::new(Venue::Finnhub, &ReferenceData::bundled().expect("reference"), frames_tx);
        std::thread::spawn(move || runtime.block_on(live::run_recorded(client, options, out, stop, counters)))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&simulator, &counters) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    shutdown.request();
    thread.join().expect("client thread");
    (simulator, counters, registry)
}

#[test]
fn the_venues_symbol_limit_error_is_surfaced() {
    let refused = |_: &Simulator, counters: &FeedCounters| {
        counters.venue_errors.get() >= symbols(Venue::Finnhub).len() as u64 - 10
    };
    let (_simulator, counters, _) = brief(KEY, 10, refused);
    assert!(
        counters.venue_errors.get() >= symbols(Venue::Finnhub).len() as u64 - 10,
        "refused subscriptions were not counted"
    );
    assert!(crate::logs::text().contains("Subscribing to too many symbols"), "the venue's message was not logged");
}

#[test]
fn a_wrong_key_is_refused_and_never_shown() {
    let key = ApiKey::new(CANARY.into());
    assert_eq!(format!("{key:?} {key}"), "*** ***");
    let (simulator, _, registry) = brief(CANARY, 50, |simulator, _| Stats::count_of(&simulator.stats.refused) >= 3);
    assert!(Stats::count_of(&simulator.stats.refused) >= 3, "the wrong key was not refused");
    assert_eq!(Stats::count_of(&simulator.stats.connections), 0, "a refused client got a session");
    let logs = crate::logs::text();
    assert!(logs.contains("401"), "the refusals were not logged");
    let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(CANARY)).take(3).collect();
    assert!(leaks.is_empty(), "the API key reached a log line: {leaks:?}");
    let mut exposition = String::new();
    prometheus_client::encoding::text::encode(&mut exposition, &registry).expect("metrics");
    assert!(exposition.contains("finnhub_reconnects") && !exposition.contains(CANARY));
}

#[test]
fn an_outage_still_open_at_the_stop_is_reported() {
    let outage = Faults { disconnect_every: Some(40), outage: Some(Duration::from_secs(120)), ..Faults::default() };
    let run = run_with(false, Venue::Finnhub, outage, 1 << 16, finnhub, delivered);
    crate::harness::assert_an_outage_open_at_the_stop_was_reported(&run);
}

#[test]
fn control_frames_are_known_by_their_parsed_type_not_their_spelling() {
    use producer::live::{ClientOutput, Protocol};
    let metrics = ServiceMetrics::register(&mut Registry::default());
    let counters = FeedCounters::new(&metrics, "finnhub");
    let mut client =
        Finnhub::new("ws://127.0.0.1:1", ApiKey::new(KEY.into()), vec!["AAPL".into()], counters.clone()).expect("ok");
    let (frames, taken) = sync_channel(16);
    let out = ClientOutput::new(Venue::Finnhub, &ReferenceData::bundled().expect("reference"), frames);
    for ping in [r#"{"type":"ping"}"#, r#"{"type": "ping"}"#, "{\n  \"type\" : \"ping\"\n}"] {
        client.text(ping, 1, &out).expect("handled");
    }
    assert!(taken.try_recv().is_err(), "pings, however spelled, are not passed on as data");
    client.text(r#"{"type": "error", "msg": "Invalid symbol"}"#, 1, &out).expect("handled");
    assert_eq!(counters.venue_errors.get(), 1, "an error frame with spaces is a venue error");
    assert!(taken.try_recv().is_err());
    client.text(r#"{"data": [{"s": "AAPL", "p": 1.5, "t": 1000, "v": 1}], "type": "trade"}"#, 1, &out).expect("ok");
    assert!(matches!(taken.try_recv(), Ok(Received::Frame(_))), "a trade frame goes on");
}
