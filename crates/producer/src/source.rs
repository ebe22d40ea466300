//! Where venue frames come from. Every source runs on its own thread and sends what it
//! [`Received`] into one bounded channel, so the publishing loop does not care what feeds it;
//! live venue clients plug in the same way.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tickflow_core::contract::Venue;
use tickflow_core::feed::MissedTrades;
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket, venue_frame};
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::now_us;
use tickflow_service::shutdown::Shutdown;

use crate::capture::{CaptureLine, Tap};
use crate::live::replay::{Lookahead, Replay};
use crate::records::TradeRecords;

/// One WebSocket text frame from a venue and when it was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub venue: Venue,
    pub receive_time_us: i64,
    /// The frame's text as the venue sent it (`frame` in replay and capture files).
    #[serde(rename = "frame")]
    pub text: String,
    /// Its trades as `raw_trades` records, when the live client that read it encoded them (see
    /// [`TradeRecords`]); never recorded, since a replay reads the frame again.
    #[serde(skip)]
    pub records: Option<TradeRecords>,
}

impl Frame {
    /// A frame as received, for the publisher to normalize.
    pub fn new(venue: Venue, receive_time_us: i64, text: String) -> Self {
        Frame { venue, receive_time_us, text, records: None }
    }
}

/// A live client's word on whether its feed is complete: `held` when its connection dropped
/// (what happens until it has recovered may be missing), not held once it has recovered what it
/// could (or reported what it could not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedStatus {
    pub venue: Venue,
    pub held: bool,
    pub at_us: i64,
}

/// What a source hands the publishing loop: a venue frame, trades a live client knows it
/// missed and could not recover, or a client's feed status. A JSON Lines file of them (a frame,
/// `{"missed": {...}}` or `{"status": {...}}` per line) can be replayed; captures of sources
/// other than the live clients hold them too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Received {
    Frame(Frame),
    Missed { missed: MissedTrades },
    Status { status: FeedStatus },
}

impl Received {
    /// When it was received, when the trades were given up, or when the status changed.
    pub fn time_us(&self) -> i64 {
        match self {
            Received::Frame(frame) => frame.receive_time_us,
            Received::Missed { missed } => missed.detected_at_us,
            Received::Status { status } => status.at_us,
        }
    }
}

/// The seeded synthetic market rendered as venue frames. With a positive `rate` the trades are
/// paced in real time and stamped with the current time; with rate 0 they go out as fast as
/// possible with the generator's own clock, so the same seed gives the same records.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    pub seed: u64,
    pub rate: f64,
    pub max_trades: Option<u64>,
    /// Where its frames are recorded (a capture), if anywhere.
    pub tap: Tap,
}

impl SyntheticSource {
    pub fn run(self, reference: ReferenceData, frames: SyncSender<Received>, shutdown: Shutdown) {
        let paced = self.rate > 0.0;
        let start_time_us = if paced { now_us() } else { SyntheticConfig::default().start_time_us };
        let config = SyntheticConfig {
            seed: self.seed,
            trades_per_second: if paced { self.rate } else { 10_000.0 },
            start_time_us,
            first_trade_id: if paced {
                start_time_us.unsigned_abs()
            } else {
                SyntheticConfig::default().first_trade_id
            },
            ..SyntheticConfig::default()
        };
        let mut market = SyntheticMarket::new(&reference, config);
        let mut sent = 0u64;
        while !shutdown.requested() && self.max_trades.is_none_or(|max| sent < max) {
            let trade = market.next_trade();
            if paced {
                let ahead = trade.event_time_us - now_us();
                if ahead > 0 {
                    std::thread::sleep(Duration::from_micros(ahead.unsigned_abs()));
                }
            }
            let frame = Frame::new(trade.venue, trade.receive_time_us, venue_frame(&trade, sent));
            let frame = Received::Frame(frame);
            self.tap.record(|| CaptureLine::Source(frame.clone()));
            if frames.send(frame).is_err() {
                return;
            }
            sent += 1;
        }
    }
}

/// How fast a replay goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// This many frames per second; 0: as fast as possible.
    Rate(f64),
    /// The gaps between the frames' receive times, as recorded.
    Original,
}

/// Recorded JSON Lines, one [`CaptureLine`] per line: a `.jsonl` file, a capture file
/// (`.jsonl.zst`), or a folder of capture files played in name (time) order. What other sources
/// handed on goes on as recorded; what live clients recorded of their venues goes through their
/// protocols again ([`Replay`]). Times come from the recording, so two replays of the same
/// capture produce the same records.
pub struct ReplaySource {
    reader: Box<dyn BufRead + Send>,
    pace: Pace,
    tap: Tap,
    metrics: Option<ServiceMetrics>,
}

impl std::fmt::Debug for ReplaySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplaySource").field("pace", &self.pace).finish()
    }
}

fn open_one(path: &Path) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let file =
        std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot open replay file {}: {e}", path.display()))?;
    Ok(if path.extension().is_some_and(|e| e == "zst") {
        Box::new(std::io::BufReader::new(zstd::Decoder::new(file)?))
    } else {
        Box::new(std::io::BufReader::new(file))
    })
}

impl ReplaySource {
    /// Opens the file or folder now, so a missing one is a start-up error rather than a silent stop.
    pub fn open(path: &Path, pace: Pace) -> anyhow::Result<Self> {
        if !path.is_dir() {
            return Ok(ReplaySource { reader: open_one(path)?, pace, tap: Tap::none(), metrics: None });
        }
        let mut files: Vec<_> = std::fs::read_dir(path)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".jsonl.zst"))
            .collect();
        files.sort();
        if files.is_empty() {
            anyhow::bail!("no capture files (*.jsonl.zst) in {}", path.display());
        }
        let mut reader: Box<dyn BufRead + Send> = Box::new(std::io::empty());
        for file in &files {
            reader = Box::new(reader.chain(open_one(file)?));
        }
        Ok(ReplaySource { reader, pace, tap: Tap::none(), metrics: None })
    }

    /// Records every line replayed into `tap`, as read.
    pub fn with_tap(self, tap: Tap) -> Self {
        ReplaySource { tap, ..self }
    }

    /// Counts the replayed clients' events (reconnects, repeats, gaps) in `metrics`.
    pub fn with_metrics(self, metrics: ServiceMetrics) -> Self {
        ReplaySource { metrics: Some(metrics), ..self }
    }

    pub fn run(self, reference: ReferenceData, frames: SyncSender<Received>, shutdown: Shutdown) {
        let started = std::time::Instant::now();
        let mut first_us = None;
        let metrics = self
            .metrics
            .unwrap_or_else(|| ServiceMetrics::register(&mut prometheus_client::registry::Registry::default()));
        let lookahead = Arc::new(Mutex::new(Lookahead::new(Box::new(lines(self.reader)), self.tap)));
        let mut replay = Replay::new(frames.clone(), reference, metrics, lookahead.clone());
        let mut last_us = 0;
        for number in 0u64.. {
            if shutdown.requested() {
                break;
            }
            let Some(line) = lookahead.lock().ok().and_then(|mut l| l.next_line()) else { break };
            last_us = line.time_us();
            let due = match self.pace {
                Pace::Rate(rate) if rate > 0.0 => Some(Duration::from_secs_f64(number as f64 / rate)),
                Pace::Rate(_) => None,
                Pace::Original => {
                    let first = *first_us.get_or_insert(last_us);
                    Some(Duration::from_micros((last_us - first).max(0) as u64))
                }
            };
            if let Some(wait) = due.and_then(|due| due.checked_sub(started.elapsed())) {
                std::thread::sleep(wait);
            }
            let handed_on = match line {
                CaptureLine::Source(received) => frames.send(received).is_ok(),
                CaptureLine::Venue(record) => replay.handle(record).is_ok(),
            };
            if !handed_on {
                return;
            }
        }
        replay.finish(last_us);
    }
}

/// The capture lines of `reader`; unreadable lines are skipped with a warning, and text that is
/// not UTF-8 ends the replay.
fn lines(reader: Box<dyn BufRead + Send>) -> impl Iterator<Item = CaptureLine> + Send {
    reader
        .lines()
        .enumerate()
        .map_while(|(number, line)| match line {
            Ok(line) => Some((number, line)),
            Err(_) => {
                tracing::error!(line = number + 1, "replay input is not readable text; stopping the replay");
                None
            }
        })
        .filter_map(|(number, line)| {
            if line.trim().is_empty() {
                return None;
            }
            let parsed = CaptureLine::parse(&line);
            if parsed.is_none() {
                tracing::warn!(line = number + 1, "skipping a replay line that is no capture record, frame or report");
            }
            parsed
        })
}
