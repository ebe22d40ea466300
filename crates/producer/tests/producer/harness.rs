//! A client of the producer against the exchange simulator, and the comparison of what it
//! delivered, and what it reported missed, with the simulator's manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use exchange_sim::{Faults, ManifestTrade, Ports, SimConfig, Simulator};
use producer::live::{self, FeedCounters, LiveOptions, Protocol};
use producer::records::TradeRecords;
use producer::source::{Frame, Received};
use prometheus_client::registry::Registry;
use tickflow_core::contract::Venue;
use tickflow_core::feed::{Backoff, MissedTrades};
use tickflow_core::reference::ReferenceData;
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::shutdown::Shutdown;

/// Trades the market makes over all venues in one run.
const TRADES: u64 = 4_000;

pub struct Run {
    pub simulator: Simulator,
    pub counters: FeedCounters,
    /// identity -> the trade as the client delivered it, and how many times.
    pub received: BTreeMap<String, (ManifestTrade, u32)>,
    pub other_frames: usize,
    /// Frames the client handed on with their trades encoded (checked against the publisher's
    /// own encoding of the frame).
    pub encoded_frames: usize,
    /// What the client reported as missed and not recoverable.
    pub missed: Vec<MissedTrades>,
    /// The client's feed statuses in order: `true` held, `false` released.
    pub statuses: Vec<bool>,
    /// Everything the client handed on, in order.
    pub handed_on: Vec<Received>,
    seen: BTreeMap<String, u32>,
    /// The venue's trades in the manifest.
    pub manifest: Vec<ManifestTrade>,
}

/// The symbols the producer follows on `venue` by default; the simulator trades them all.
pub fn symbols(venue: Venue) -> Vec<String> {
    live::default_symbols(&ReferenceData::bundled().expect("reference data"), venue)
}

fn manifest(path: &Path, venue: Venue) -> Vec<ManifestTrade> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<ManifestTrade>(line).ok())
        .filter(|t| t.venue == venue)
        .collect()
}

/// A trade's identity: symbol and trade id. Finnhub sends no ids, and two trades may share
/// symbol, millisecond, price and size: there the identity is those plus the how-manieth such
/// trade it is (`seen` counts them), so trades compare as a multiset.
pub fn identity(trade: &ManifestTrade, seen: &mut BTreeMap<String, u32>) -> String {
    match trade.venue {
        Venue::Finnhub => {
            let base = format!("{}|{}|{}|{}", trade.symbol, trade.time_us, trade.price, trade.qty);
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            format!("{base}#{n}")
        }
        _ => format!("{}|{}", trade.symbol, trade.id),
    }
}

fn take(run: &mut Run, received: Received, delivered: fn(&Frame) -> Option<Vec<ManifestTrade>>) {
    run.handed_on.push(received.clone());
    let frame = match received {
        Received::Frame(frame) => frame,
        Received::Missed { missed } => return run.missed.push(missed),
        Received::Status { status } => return run.statuses.push(status.held),
    };
    if let Some(records) = &frame.records {
        assert_eq!(Some(records), publishers_records(&frame).as_ref(), "the client's records of {}", frame.text);
        run.encoded_frames += 1;
    }
    match delivered(&frame) {
        Some(trades) => {
            for trade in trades {
                let key = identity(&trade, &mut run.seen);
                run.received.entry(key).or_insert((trade, 0)).1 += 1;
            }
        }
        None => run.other_frames += 1,
    }
}

/// The records the publisher makes of a frame handed on without them.
fn publishers_records(frame: &Frame) -> Option<TradeRecords> {
    let (reference, rules) = (ReferenceData::bundled().expect("reference data"), ValidationRules::default());
    let context = NormalizeContext { reference: &reference, rules: &rules, receive_time_us: frame.receive_time_us };
    match normalize(frame.venue, frame.text.as_bytes(), &context) {
        Ok(VenueFrame::Trades { trades, .. }) => TradeRecords::encode(&trades),
        _ => None,
    }
}

fn collect(
    run: &mut Run,
    frames: &Receiver<Received>,
    path: &Path,
    venue: Venue,
    delivered: fn(&Frame) -> Option<Vec<ManifestTrade>>,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut heard = Instant::now();
    while Instant::now() < deadline {
        if let Ok(received) = frames.recv_timeout(Duration::from_millis(50)) {
            take(run, received, delivered);
            heard = Instant::now();
        }
        // Done when everything arrived, or (a venue that loses trades) nothing more comes.
        let quiet = heard.elapsed() > Duration::from_secs(3);
        if run.simulator.finished() && (quiet || run.received.len() >= manifest(path, venue).len()) {
            // Anything more (a duplicate) would show within a moment.
            let settle = Instant::now() + Duration::from_millis(300);
            while let Ok(received) = frames.recv_timeout(settle.saturating_duration_since(Instant::now())) {
                take(run, received, delivered);
            }
            return;
        }
    }
}

/// The simulator the tests run: the seeded market of `TRADES` trades at 3 000/s, opening when the
/// first client connects, writing its manifest to `manifest`; no faults, no TLS.
pub fn sim_config(manifest: PathBuf) -> SimConfig {
    SimConfig {
        seed: 7,
        rate: 3_000.0,
        max_trades: Some(TRADES),
        ping_interval: Duration::from_millis(200),
        faults: Faults::default(),
        manifest,
        open_on_first_connection: true,
        finnhub_token: Some(crate::finnhub::KEY.into()),
        finnhub_max_symbols: 50,
        tls: false,
    }
}

/// The certificates a client of `simulator` trusts: its own with `--tls`, else the public roots.
pub fn trust(simulator: &Simulator) -> live::Trust {
    simulator
        .tls_ca
        .as_deref()
        .map_or_else(live::Trust::public, |pem| live::Trust::from_pem(pem.as_bytes()).expect("CA"))
}

/// Runs `client` (made from the simulator's addresses) until it delivered every trade of its
/// venue or 90 s passed, the simulator serving `wss://` and `https://` when `tls` is set.
pub fn run_with<P: Protocol + Send + 'static>(
    tls: bool,
    venue: Venue,
    faults: Faults,
    max_frame_bytes: usize,
    client: impl FnOnce(&Simulator, FeedCounters) -> P,
    delivered: fn(&Frame) -> Option<Vec<ManifestTrade>>,
) -> Run {
    let watchdog = Some(Duration::from_millis(1_000));
    run_client(Setup { tls, venue, faults, max_frame_bytes, watchdog, capture: None }, client, delivered)
}

/// How a test runs a client: the simulator's TLS and faults, the client's limits
/// (`watchdog: None` is the venue's own default), and where it records its capture, if anywhere.
pub struct Setup {
    pub tls: bool,
    pub venue: Venue,
    pub faults: Faults,
    pub max_frame_bytes: usize,
    pub watchdog: Option<Duration>,
    pub capture: Option<PathBuf>,
}

pub fn run_client<P: Protocol + Send + 'static>(
    setup: Setup,
    client: impl FnOnce(&Simulator, FeedCounters) -> P,
    delivered: fn(&Frame) -> Option<Vec<ManifestTrade>>,
) -> Run {
    let Setup { tls, venue, faults, max_frame_bytes, watchdog, capture } = setup;
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("manifest.jsonl");
    let config = SimConfig { faults, tls, ..sim_config(path.clone()) };
    let simulator = Simulator::start(config, "127.0.0.1", Ports::default()).expect("simulator");
    crate::logs::capture();
    let metrics = ServiceMetrics::register(&mut Registry::default());
    let counters = FeedCounters::new(&metrics, "test");
    let client = client(&simulator, counters.clone());
    let options = LiveOptions {
        watchdog,
        backoff: Backoff { base: Duration::from_millis(20), cap: Duration::from_millis(300) },
        max_frame_bytes,
        max_connection_age: Duration::from_secs(3600),
        trust: trust(&simulator),
    };
    let (frames_tx, frames) = sync_channel(100_000);
    let (tap, writer) = match &capture {
        Some(directory) => {
            let (tap, writer) = producer::capture::spawn(directory, 1 << 20).expect("capture folder");
            (tap, Some(writer))
        }
        None => (producer::capture::Tap::none(), None),
    };
    let shutdown = Shutdown::manual();
    let thread = {
        let (counters, stop) = (counters.clone(), shutdown.clone());
        let reference = ReferenceData::bundled().expect("reference data");
        let out = live::ClientOutput::new(venue, &reference, frames_tx).recording(0, tap);
        let runtime = live::venue_runtime().expect("runtime");
        std::thread::spawn(move || runtime.block_on(live::run_recorded(client, options, out, stop, counters)))
    };
    let mut run = Run {
        simulator,
        counters,
        received: BTreeMap::new(),
        other_frames: 0,
        encoded_frames: 0,
        missed: Vec::new(),
        statuses: Vec::new(),
        handed_on: Vec::new(),
        seen: BTreeMap::new(),
        manifest: Vec::new(),
    };
    collect(&mut run, &frames, &path, venue, delivered);
    shutdown.request();
    thread.join().expect("client thread");
    if let Some(writer) = writer {
        writer.join().expect("capture writer").expect("capture written");
    }
    // What the client reported as it stopped.
    while let Ok(received) = frames.try_recv() {
        take(&mut run, received, delivered);
    }
    run.manifest = manifest(&path, venue);
    run
}

pub fn assert_exactly_the_manifest(run: &Run) {
    assert!(run.encoded_frames > 0, "the client hands on trades it normalized itself");
    assert!(run.missed.is_empty(), "reported missed although everything was recovered: {:?}", run.missed);
    assert_delivered_once_and_as_made(run);
    let mut seen = BTreeMap::new();
    let missing: Vec<_> =
        run.manifest.iter().map(|t| identity(t, &mut seen)).filter(|k| !run.received.contains_key(k)).take(5).collect();
    assert!(missing.is_empty(), "missing {} trades, e.g. {missing:?}", run.manifest.len() - run.received.len());
}

/// Every trade of the manifest was delivered once or lies in a reported gap of its symbol (by id
/// where the venue has ids, by time where it has none), and no reported id was delivered.
pub fn assert_delivered_or_reported_missed(run: &Run) {
    assert_delivered_once_and_as_made(run);
    let mut seen = BTreeMap::new();
    let (mut lost, mut covered) = (0, 0);
    for trade in &run.manifest {
        let key = identity(trade, &mut seen);
        let gaps = run.missed.iter().filter(|m| m.venue_symbol == trade.symbol);
        let mut reported = gaps.filter(|m| match m.ids {
            Some((first, last)) => first <= trade.id && trade.id <= last,
            None => m.from_us <= trade.time_us && trade.time_us <= m.to_us,
        });
        match (run.received.contains_key(&key), reported.next()) {
            (true, Some(gap)) if gap.ids.is_some() => panic!("{key} was delivered and reported missed: {gap:?}"),
            (true, _) => {}
            (false, Some(gap)) => {
                covered += 1;
                if gap.ids.is_some() {
                    assert!(gap.from_us <= trade.time_us && trade.time_us <= gap.to_us, "{key} outside {gap:?}");
                }
            }
            (false, None) => lost += 1,
        }
    }
    assert_eq!(lost, 0, "{lost} trades neither delivered nor reported missed ({covered} were reported)");
    assert!(covered > 0, "nothing was missed: the run shows nothing");
    if run.missed.iter().all(|m| m.ids.is_some()) {
        let reported: u64 = run.missed.iter().filter_map(|m| m.ids).map(|(first, last)| last - first + 1).sum();
        assert_eq!(reported, covered, "the reported ids are exactly the missing trades");
    }
    assert_eq!(run.counters.unrecovered.get(), run.missed.len() as u64, "every report is counted");
}

/// A run whose venue dropped the connection and then refused to reconnect until the client
/// stopped: what it made in the meantime is reported missed, and the feed was held from the drop
/// until the stop.
pub fn assert_an_outage_open_at_the_stop_was_reported(run: &Run) {
    assert!(
        exchange_sim::Stats::count_of(&run.simulator.stats.refused_in_outage) > 0,
        "the venue refused the reconnects"
    );
    assert!(run.received.len() < run.manifest.len(), "the outage lost trades");
    assert_delivered_or_reported_missed(run);
    assert_eq!(run.statuses, [true, false], "held at the drop, released when the client stopped");
}

fn assert_delivered_once_and_as_made(run: &Run) {
    assert!(run.manifest.len() > 100, "too few trades to show anything: {}", run.manifest.len());
    // Every drop holds the feed, every hold is released (at the latest when the client stops).
    let alternating = run.statuses.iter().enumerate().all(|(i, held)| *held == (i % 2 == 0));
    assert!(alternating && run.statuses.len().is_multiple_of(2), "holds and releases: {:?}", run.statuses);
    let repeated: Vec<_> = run.received.iter().filter(|(_, (_, n))| *n > 1).map(|(k, _)| k).collect();
    assert!(repeated.is_empty(), "delivered more than once: {repeated:?}");
    let mut seen = BTreeMap::new();
    let expected: BTreeMap<String, &ManifestTrade> = run.manifest.iter().map(|t| (identity(t, &mut seen), t)).collect();
    assert_eq!(expected.len(), run.manifest.len(), "the manifest's identities are not unique");
    for (key, (trade, _)) in &run.received {
        let mut trade = trade.clone();
        if trade.venue == Venue::Finnhub {
            trade.id = expected.get(key).map_or(0, |t| t.id); // Finnhub sends none
        }
        assert_eq!(Some(&&trade), expected.get(key), "delivered a trade that differs from the venue's");
    }
}
