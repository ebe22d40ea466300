//! Capture and replay: recorded frames and missed-trade reports come back from the capture files
//! in order, with their times, however the files rotated, and the same on every replay.

use std::sync::mpsc::sync_channel;

use producer::capture::Capture;
use producer::source::{Frame, Pace, Received, ReplaySource};
use tickflow_core::contract::{GapReason, Venue};
use tickflow_core::feed::MissedTrades;
use tickflow_service::shutdown::Shutdown;

fn replay(path: &std::path::Path) -> Vec<Received> {
    let (frames_tx, frames) = sync_channel(1_000_000);
    ReplaySource::open(path, Pace::Rate(0.0)).expect("capture").run(frames_tx, Shutdown::manual());
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
            Received::Frame(Frame { venue, receive_time_us: time_us, frame })
        })
        .collect();
    for frame in &recorded {
        capture.write(frame).expect("write");
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
