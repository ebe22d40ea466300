//! The Binance client against the simulator with faults: every trade of the manifest arrives
//! exactly once, with the venue's values, whatever the connection went through.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use exchange_sim::{Faults, ManifestTrade, SimConfig, Simulator, Stats};
use producer::live::{self, FeedCounters, LiveOptions, binance::Binance};
use producer::source::Frame;
use prometheus_client::registry::Registry;
use tickflow_core::contract::Venue;
use tickflow_core::feed::Backoff;
use tickflow_core::reference::ReferenceData;
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::shutdown::Shutdown;

const TRADES: u64 = 1_500;

struct Run {
    simulator: Simulator,
    counters: FeedCounters,
    /// (symbol, id) -> the trade as the client delivered it, and how many times.
    received: BTreeMap<(String, u64), (ManifestTrade, u32)>,
    other_frames: usize,
    manifest: Vec<ManifestTrade>,
}

/// Every Binance symbol of the reference data: the simulator trades them all.
fn symbols() -> Vec<String> {
    let reference = ReferenceData::bundled().expect("reference data");
    let listed = reference.instruments().iter().flat_map(|i| i.venue_symbols.iter());
    listed.filter(|(venue, _)| *venue == Venue::Binance).map(|(_, symbol)| symbol.to_string()).collect()
}

fn delivered(frame: &Frame) -> Option<ManifestTrade> {
    let value: serde_json::Value = serde_json::from_str(&frame.frame).ok()?;
    let data = value.get("data").unwrap_or(&value);
    if data["e"] != "trade" {
        return None;
    }
    Some(ManifestTrade {
        venue: "binance".into(),
        symbol: data["s"].as_str()?.to_owned(),
        id: data["t"].as_u64()?,
        price: data["p"].as_str()?.to_owned(),
        qty: data["q"].as_str()?.to_owned(),
        time_ms: data["T"].as_i64()?,
        is_buyer_maker: data["m"].as_bool()?,
    })
}

fn collect(run: &mut Run, frames: &Receiver<Frame>, deadline: Instant) {
    while Instant::now() < deadline {
        if let Ok(frame) = frames.recv_timeout(Duration::from_millis(50)) {
            match delivered(&frame) {
                Some(trade) => run.received.entry((trade.symbol.clone(), trade.id)).or_insert((trade, 0)).1 += 1,
                None => run.other_frames += 1,
            }
        }
        let made = Stats::get(&run.simulator.stats.trades);
        if run.simulator.finished() && run.received.len() as u64 >= made {
            // Anything more (a duplicate) would show within a moment.
            let settle = Instant::now() + Duration::from_millis(300);
            while let Ok(frame) = frames.recv_timeout(settle.saturating_duration_since(Instant::now())) {
                if let Some(trade) = delivered(&frame) {
                    run.received.entry((trade.symbol.clone(), trade.id)).or_insert((trade, 0)).1 += 1;
                }
            }
            return;
        }
    }
}

fn run_against(faults: Faults, max_frame_bytes: usize) -> Run {
    let directory = tempfile::tempdir().expect("temporary directory");
    let manifest_path = directory.path().join("manifest.jsonl");
    let config = SimConfig {
        seed: 7,
        rate: 6_000.0,
        max_trades: Some(TRADES),
        ping_interval: Duration::from_millis(200),
        faults,
        manifest: manifest_path.clone(),
        open_on_first_connection: true,
    };
    let simulator = Simulator::start(config, "127.0.0.1", 0, 0).expect("simulator");
    let metrics = ServiceMetrics::register(&mut Registry::default());
    let counters = FeedCounters::new(&metrics, "binance");
    let client = Binance::new(
        &format!("ws://{}", simulator.binance_ws),
        &format!("http://{}", simulator.binance_rest),
        symbols(),
        counters.clone(),
    );
    let options = LiveOptions {
        watchdog: Duration::from_millis(1_000),
        backoff: Backoff { base: Duration::from_millis(20), cap: Duration::from_millis(300) },
        max_frame_bytes,
        max_connection_age: Duration::from_secs(3600),
    };
    let (frames_tx, frames) = sync_channel(100_000);
    let shutdown = Shutdown::manual();
    let stop = shutdown.clone();
    let thread = {
        let counters = counters.clone();
        std::thread::spawn(move || live::run(client, options, frames_tx, stop, counters))
    };
    let mut run = Run { simulator, counters, received: BTreeMap::new(), other_frames: 0, manifest: Vec::new() };
    collect(&mut run, &frames, Instant::now() + Duration::from_secs(90));
    shutdown.request();
    thread.join().expect("client thread");
    run.manifest = std::fs::read_to_string(&manifest_path)
        .expect("manifest")
        .lines()
        .map(|line| serde_json::from_str(line).expect("manifest line"))
        .collect();
    run
}

fn assert_exactly_the_manifest(run: &Run) {
    assert!(run.manifest.len() > 100, "too few trades to show anything: {}", run.manifest.len());
    let repeated: Vec<_> = run.received.iter().filter(|(_, (_, n))| *n > 1).map(|(k, _)| k).collect();
    assert!(repeated.is_empty(), "delivered more than once: {repeated:?}");
    let expected: BTreeMap<(String, u64), &ManifestTrade> =
        run.manifest.iter().map(|t| ((t.symbol.clone(), t.id), t)).collect();
    let missing: Vec<_> = expected.keys().filter(|k| !run.received.contains_key(*k)).take(5).collect();
    assert!(missing.is_empty(), "missing {} trades, e.g. {missing:?}", expected.len() - run.received.len());
    for (key, (trade, _)) in &run.received {
        assert_eq!(Some(&trade), expected.get(key), "delivered a trade that differs from the venue's");
    }
}

#[test]
fn disconnects_stalls_and_duplicates_lose_and_repeat_nothing() {
    let run = run_against(
        Faults {
            disconnect_every: Some(200),
            stall_every: Some(450),
            stall: Duration::from_millis(1_500),
            duplicate_every: Some(9),
            ..Faults::default()
        },
        1 << 16,
    );
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
    let run = run_against(
        Faults {
            oversized_every: Some(300),
            oversized_bytes: 1 << 16,
            malformed_every: Some(50),
            shutdown_every: Some(400),
            ..Faults::default()
        },
        1 << 16,
    );
    assert_exactly_the_manifest(&run);
    let stats = &run.simulator.stats;
    assert!(run.counters.refused_frames.get() >= 1, "an oversized frame was not refused");
    assert!(Stats::get(&stats.shutdowns) >= 1 && Stats::get(&stats.connections) > Stats::get(&stats.shutdowns));
    // Malformed frames are passed on for the producer to dead-letter, not dropped silently.
    assert!(run.other_frames as u64 >= Stats::get(&stats.malformed) && Stats::get(&stats.malformed) > 0);
}
