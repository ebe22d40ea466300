//! Capture and replay: recorded frames and missed-trade reports come back from the capture files
//! in order, with their times, however the files rotated, and the same on every replay. A live
//! client's capture holds what its venue sent, verbatim (control frames, heartbeats, repeats,
//! snapshots as ordered by the venue, REST answers), and replaying it through the client's
//! protocol hands on exactly what the client handed on live.

use std::sync::mpsc::sync_channel;
use std::time::Duration;

use exchange_sim::Faults;
use producer::capture::{Capture, CaptureLine, VenueEvent};
use producer::live::Protocol;
use producer::source::{Frame, Pace, Received, ReplaySource};
use tickflow_core::contract::{GapReason, Venue};
use tickflow_core::feed::MissedTrades;
use tickflow_core::reference::ReferenceData;
use tickflow_service::shutdown::Shutdown;

use crate::harness::{Run, Setup, assert_exactly_the_manifest, run_client};

fn replay(path: &std::path::Path) -> Vec<Received> {
    let (frames_tx, frames) = sync_channel(1_000_000);
    let reference = ReferenceData::bundled().expect("reference data");
    ReplaySource::open(path, Pace::Rate(0.0)).expect("capture").run(reference, frames_tx, Shutdown::manual());
    frames.try_iter().collect()
}

#[test]
fn captured_frames_replay_in_order_across_rotations_the_same_every_time() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut capture = Capture::new(directory.path(), 4_096).expect("capture folder");
    let recorded: Vec<Received> = (0..2_000i64)
        .map(|n| {
            let venue = [Venue::Binance, Venue::Coinbase, Venue::Finnhub][(n % 3) as usize];
            let time_us = 1_700_000_000_000_000 + n * 1_000;
            if n % 100 == 99 {
                let missed = MissedTrades {
                    venue,
                    venue_symbol: format!("SYMBOL{n}"),
                    reason: GapReason::Disconnected,
                    from_us: time_us - 5_000,
                    to_us: time_us,
                    ids: (venue != Venue::Finnhub).then_some((n as u64, n as u64 + 3)),
                    detected_at_us: time_us,
                };
                return Received::Missed { missed };
            }
            let frame = format!(r#"{{"n":{n},"text":"frame {n} with \"quotes\" and ünïcode"}}"#);
            Received::Frame(Frame::new(venue, time_us, frame))
        })
        .collect();
    for frame in &recorded {
        capture.write(&CaptureLine::Source(frame.clone())).expect("write");
    }
    let before_finish: Vec<_> =
        std::fs::read_dir(directory.path()).expect("list").map(|e| e.expect("entry").path()).collect();
    assert!(
        before_finish.iter().any(|f| f.to_string_lossy().ends_with(".partial")),
        "the open file is not marked partial"
    );
    capture.finish().expect("finish");

    let mut files: Vec<_> =
        std::fs::read_dir(directory.path()).expect("list").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(files.len() > 10, "the capture did not rotate: {} files", files.len());
    assert!(files.iter().all(|f| f.to_string_lossy().ends_with(".jsonl.zst")), "a file was left incomplete");
    assert_eq!(replay(directory.path()), recorded);
    assert_eq!(replay(directory.path()), recorded, "a second replay differs");
    let first = replay(&files[0]);
    assert_eq!(first, recorded[..first.len()], "one file replays its own frames");
}

#[test]
fn a_folder_without_captures_is_refused_at_start() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let error = ReplaySource::open(directory.path(), Pace::Original).expect_err("empty folder");
    assert!(error.to_string().contains("no capture files"), "{error}");
}

/// Every line of the capture files in `directory`, in order.
fn capture_lines(directory: &std::path::Path) -> Vec<CaptureLine> {
    let mut files: Vec<_> = std::fs::read_dir(directory).expect("list").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(!files.is_empty() && files.iter().all(|f| f.to_string_lossy().ends_with(".jsonl.zst")), "{files:?}");
    let mut lines = Vec::new();
    for file in files {
        let text = zstd::decode_all(std::fs::File::open(&file).expect("open")).expect("zstd");
        for line in String::from_utf8(text).expect("utf-8").lines() {
            lines.push(serde_json::from_str::<CaptureLine>(line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    lines
}

/// The events a live client recorded, of one kind.
fn events<'a>(lines: &'a [CaptureLine], kind: &'a str) -> impl Iterator<Item = &'a VenueEvent> + 'a {
    lines.iter().filter_map(move |line| match line {
        CaptureLine::Venue(record) if event_kind(&record.event) == kind => Some(&record.event),
        _ => None,
    })
}

fn event_kind(event: &VenueEvent) -> &'static str {
    match event {
        VenueEvent::Resumed { .. } => "resumed",
        VenueEvent::Connected { .. } => "connected",
        VenueEvent::Text { .. } => "text",
        VenueEvent::Control { .. } => "control",
        VenueEvent::Sent { .. } => "sent",
        VenueEvent::Rest { .. } => "rest",
        VenueEvent::Disconnected { .. } => "disconnected",
        VenueEvent::Stopped => "stopped",
    }
}

fn texts(lines: &[CaptureLine]) -> Vec<serde_json::Value> {
    events(lines, "text")
        .filter_map(|e| match e {
            VenueEvent::Text { text } => serde_json::from_str(text).ok(),
            _ => None,
        })
        .collect()
}

/// Runs a live client against the simulator with `faults`, recording its capture; returns the
/// run, the capture's lines, and what a replay of the capture handed on.
fn recorded_run<P: Protocol + Send + 'static>(
    venue: Venue,
    faults: Faults,
    client: impl FnOnce(&exchange_sim::Simulator, producer::live::FeedCounters) -> P,
    delivered: fn(&Frame) -> Option<Vec<exchange_sim::ManifestTrade>>,
) -> (Run, Vec<CaptureLine>, Vec<Received>) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let setup = Setup {
        tls: false,
        venue,
        faults,
        max_frame_bytes: 1 << 16,
        watchdog: Some(Duration::from_millis(1_000)),
        capture: Some(directory.path().to_owned()),
    };
    let run = run_client(setup, client, delivered);
    let lines = capture_lines(directory.path());
    let replayed = replay(directory.path());
    (run, lines, replayed)
}

#[test]
fn a_coinbase_capture_is_verbatim_and_its_replay_hands_on_what_the_client_did() {
    let faults = Faults {
        disconnect_every: Some(60),
        sequence_gap_every: Some(25),
        duplicate_every: Some(9),
        ..Faults::default()
    };
    let (run, lines, replayed) =
        recorded_run(Venue::Coinbase, faults, crate::coinbase::coinbase, crate::coinbase::delivered);
    assert_exactly_the_manifest(&run);
    assert!(run.counters.resubscriptions.get() >= 1 && run.counters.reconnects.get() >= 1, "no recovery happened");
    // Every frame as the venue sent it: subscription confirmations and heartbeats included, and
    // snapshots newest first (the client puts them in id order only for what it hands on).
    let texts = texts(&lines);
    assert!(texts.iter().any(|t| t["channel"] == "subscriptions"), "subscription confirmations were not recorded");
    assert!(texts.iter().filter(|t| t["channel"] == "heartbeats").count() >= 5, "heartbeats were not recorded");
    let snapshots: Vec<Vec<u64>> = texts
        .iter()
        .filter(|t| t["events"][0]["type"] == "snapshot")
        .map(|t| {
            t["events"][0]["trades"]
                .as_array()
                .expect("trades")
                .iter()
                .map(|x| x["trade_id"].as_str().expect("id").parse().expect("number"))
                .collect()
        })
        .filter(|ids: &Vec<u64>| ids.len() > 1)
        .collect();
    assert!(!snapshots.is_empty(), "no snapshot was recorded");
    assert!(snapshots.iter().all(|ids| ids.is_sorted_by(|a, b| a > b)), "a snapshot was recorded re-ordered");
    let repeated = texts.iter().filter_map(|t| t["sequence_num"].as_u64()).collect::<Vec<_>>();
    assert!(repeated.windows(2).any(|w| w[1] <= w[0]), "the duplicated messages the client dropped were not recorded");
    // What the client sent, its connections and its stop.
    let subscribed: Vec<_> = events(&lines, "sent")
        .filter(|e| matches!(e, VenueEvent::Sent { text } if text.contains("\"subscribe\"")))
        .collect();
    assert!(subscribed.len() >= 4, "subscriptions sent: {subscribed:?}");
    assert!(events(&lines, "connected").count() >= 2 && events(&lines, "disconnected").count() >= 1);
    assert_eq!(events(&lines, "stopped").count(), 1);
    // Replayed through the client's protocol again: the same frames, reports and statuses.
    assert_eq!(replayed.len(), run.handed_on.len());
    assert_eq!(replayed, run.handed_on, "the replay differs from what the client handed on");
}

#[test]
fn a_binance_capture_records_pings_and_rest_answers_and_replays_the_backfills() {
    let faults = Faults { disconnect_every: Some(300), duplicate_every: Some(13), ..Faults::default() };
    let (run, lines, replayed) =
        recorded_run(Venue::Binance, faults, crate::binance::binance, crate::binance::delivered);
    assert_exactly_the_manifest(&run);
    assert!(run.counters.backfilled.get() >= 1, "nothing was backfilled");
    assert!(events(&lines, "rest").count() >= 1, "REST answers were not recorded");
    assert!(
        events(&lines, "control").any(|e| matches!(e, VenueEvent::Control { kind, .. } if kind == "ping")),
        "pings were not recorded"
    );
    assert_eq!(replayed, run.handed_on, "the replay differs from what the client handed on");
}

#[test]
fn a_finnhub_capture_records_pings_and_replays_the_outages_it_reported() {
    let faults = Faults { disconnect_every: Some(40), duplicate_every: Some(11), ..Faults::default() };
    let (run, lines, replayed) =
        recorded_run(Venue::Finnhub, faults, crate::finnhub::finnhub, crate::finnhub::delivered);
    assert!(!run.missed.is_empty(), "no outage was reported");
    assert!(texts(&lines).iter().any(|t| t["type"] == "ping"), "ping messages were not recorded");
    assert!(
        !lines.iter().any(|l| serde_json::to_string(l).expect("json").contains(crate::finnhub::KEY)),
        "the key was recorded"
    );
    assert_eq!(replayed, run.handed_on, "the replay differs from what the client handed on");
}
