//! Where venue frames come from. Every source runs on its own thread and sends [`Frame`]s into
//! one bounded channel, so the publishing loop does not care what feeds it; live venue clients
//! plug in the same way.

use std::io::BufRead;
use std::path::Path;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tickflow_core::contract::Venue;
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket, venue_frame};
use tickflow_service::now_us;
use tickflow_service::shutdown::Shutdown;

/// One WebSocket text frame from a venue and when it was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub venue: Venue,
    pub receive_time_us: i64,
    pub frame: String,
}

/// The seeded synthetic market rendered as venue frames. With a positive `rate` the trades are
/// paced in real time and stamped with the current time; with rate 0 they go out as fast as
/// possible with the generator's own clock, so the same seed gives the same records.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    pub seed: u64,
    pub rate: f64,
    pub max_trades: Option<u64>,
}

impl SyntheticSource {
    pub fn run(self, reference: ReferenceData, frames: SyncSender<Frame>, shutdown: Shutdown) {
        let paced = self.rate > 0.0;
        let config = SyntheticConfig {
            seed: self.seed,
            trades_per_second: if paced { self.rate } else { 10_000.0 },
            start_time_us: if paced { now_us() } else { SyntheticConfig::default().start_time_us },
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
            let frame =
                Frame { venue: trade.venue, receive_time_us: trade.receive_time_us, frame: venue_frame(&trade, sent) };
            if frames.send(frame).is_err() {
                return;
            }
            sent += 1;
        }
    }
}

/// Frames recorded in a JSON Lines file, one [`Frame`] per line, played back at `rate` frames
/// per second (0: as fast as possible). Two replays of a file produce the same records.
#[derive(Debug)]
pub struct ReplaySource {
    reader: std::io::BufReader<std::fs::File>,
    rate: f64,
}

impl ReplaySource {
    /// Opens the file now, so a missing file is a start-up error rather than a silent stop.
    pub fn open(path: &Path, rate: f64) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open replay file {}: {e}", path.display()))?;
        Ok(ReplaySource { reader: std::io::BufReader::new(file), rate })
    }

    pub fn run(self, frames: SyncSender<Frame>, shutdown: Shutdown) {
        let started = std::time::Instant::now();
        for (number, line) in self.reader.lines().enumerate() {
            if shutdown.requested() {
                return;
            }
            if self.rate > 0.0 {
                let due = Duration::from_secs_f64(number as f64 / self.rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            let Ok(line) = line else {
                tracing::error!(line = number + 1, "replay file is not readable text; stopping the replay");
                return;
            };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Frame>(&line) {
                Ok(frame) => {
                    if frames.send(frame).is_err() {
                        return;
                    }
                }
                Err(_) => tracing::warn!(line = number + 1, "skipping a replay line that is not a frame record"),
            }
        }
    }
}
