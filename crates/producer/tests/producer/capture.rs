//! Capture and replay: recorded frames come back from the capture files in order, with their
//! receive times, however the files rotated, and the same on every replay.

use std::sync::mpsc::sync_channel;

use producer::capture::Capture;
use producer::source::{Frame, Pace, ReplaySource};
use tickflow_core::contract::Venue;
use tickflow_service::shutdown::Shutdown;

fn replay(path: &std::path::Path) -> Vec<Frame> {
    let (frames_tx, frames) = sync_channel(1_000_000);
    ReplaySource::open(path, Pace::Rate(0.0)).expect("capture").run(frames_tx, Shutdown::manual());
    frames.try_iter().collect()
}

#[test]
fn captured_frames_replay_in_order_across_rotations_the_same_every_time() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut capture = Capture::new(directory.path(), 4_096).expect("capture folder");
    let recorded: Vec<Frame> = (0..2_000i64)
        .map(|n| Frame {
            venue: [Venue::Binance, Venue::Coinbase, Venue::Finnhub][(n % 3) as usize],
            receive_time_us: 1_700_000_000_000_000 + n * 1_000,
            frame: format!(r#"{{"n":{n},"text":"frame {n} with \"quotes\" and ünïcode"}}"#),
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
