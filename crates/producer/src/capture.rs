//! Capture: what the producer receives, as it received it, to zstd-compressed JSON Lines files
//! (`capture-<first time in µs>.jsonl.zst`, one [`CaptureLine`] per line) that rotate after a
//! number of uncompressed bytes. A live client records its venue verbatim at the connection
//! ([`VenueRecord`]: every WebSocket frame byte for byte with its receive time, control frames
//! included, the messages it sent, REST answers, connections opened and ended, its stop); the
//! clients' normalisation (dropping repeats, ordering snapshots, reporting gaps) is done again on
//! replay, by the same code. Other sources record what they hand on (a [`Received`]). A file is
//! written as `….partial` and renamed when complete, so a reader (a replay) only ever sees whole
//! files. `--source replay` plays a file or a folder of them back.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::resume::VenueResume;
use serde::{Deserialize, Serialize};
use tickflow_core::contract::Venue;

use crate::source::Received;

/// One line of a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CaptureLine {
    Venue(VenueRecord),
    Source(Received),
}

impl CaptureLine {
    /// One line of a capture or of a JSON Lines file of frames; `None` if it is neither.
    pub fn parse(line: &str) -> Option<CaptureLine> {
        // Frames first: most lines of a frames file are, and a struct fails fast.
        if let Ok(frame) = serde_json::from_str::<crate::source::Frame>(line) {
            return Some(CaptureLine::Source(Received::Frame(frame)));
        }
        serde_json::from_str(line).ok()
    }

    pub fn time_us(&self) -> i64 {
        match self {
            CaptureLine::Venue(record) => record.at_us,
            CaptureLine::Source(received) => received.time_us(),
        }
    }
}

/// What one live client's connection to a venue saw or did, at `at_us`. `client` tells apart
/// the connections of one venue (Binance opens one per 1 024 streams).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueRecord {
    pub venue: Venue,
    pub client: u32,
    pub at_us: i64,
    #[serde(flatten)]
    pub event: VenueEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum VenueEvent {
    /// Before its first connection the client was told where the previous run left the feed.
    Resumed { from: VenueResume },
    /// The handshake completed; the client follows these symbols.
    Connected { symbols: Vec<String> },
    /// A text frame as received.
    Text { text: String },
    /// A ping, pong, close or binary frame, its payload in base64.
    Control { kind: String, payload: String },
    /// A message the client sent.
    Sent { text: String },
    /// A REST answer (`status` absent when no answer came: `error` says why), as received.
    Rest { request: String, status: Option<u16>, retry_after_s: Option<u64>, body: String, error: Option<String> },
    /// The connection ended, or an attempt to open one failed.
    Disconnected { reason: String },
    /// The client stopped.
    Stopped,
}

/// Where sources send what they record: the capture writer's channel (`None`: not capturing).
#[derive(Debug, Clone, Default)]
pub struct Tap(Option<std::sync::mpsc::SyncSender<CaptureLine>>);

impl Tap {
    pub fn none() -> Self {
        Tap(None)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Records `line`; a writer that has stopped (it reported why) turns the tap off.
    pub fn record(&self, line: impl FnOnce() -> CaptureLine) {
        if let Some(sender) = &self.0 {
            let _ = sender.send(line());
        }
    }
}

/// A capture writer on its own thread: the tap every source records into, and the thread, which
/// completes the last file once every tap is dropped.
pub fn spawn(
    directory: &Path,
    rotate_bytes: u64,
) -> anyhow::Result<(Tap, std::thread::JoinHandle<std::io::Result<()>>)> {
    let mut capture = Capture::new(directory, rotate_bytes)?;
    let (sender, lines) = std::sync::mpsc::sync_channel::<CaptureLine>(65_536);
    let writer = std::thread::spawn(move || {
        for line in lines {
            if let Err(error) = capture.write(&line) {
                tracing::error!(%error, "cannot write the capture; capturing stops");
                return Err(error);
            }
        }
        capture.finish()
    });
    Ok((Tap(Some(sender)), writer))
}

const LEVEL: i32 = 3;

struct Open {
    encoder: zstd::Encoder<'static, BufWriter<File>>,
    partial: PathBuf,
    done: PathBuf,
    bytes: u64,
}

pub struct Capture {
    directory: PathBuf,
    rotate_bytes: u64,
    open: Option<Open>,
    line: Vec<u8>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture").field("directory", &self.directory).field("rotate_bytes", &self.rotate_bytes).finish()
    }
}

impl Capture {
    pub fn new(directory: &Path, rotate_bytes: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(directory)
            .map_err(|e| anyhow::anyhow!("cannot create the capture folder {}: {e}", directory.display()))?;
        Ok(Capture { directory: directory.to_owned(), rotate_bytes: rotate_bytes.max(1), open: None, line: Vec::new() })
    }

    pub fn write(&mut self, line: &CaptureLine) -> std::io::Result<()> {
        if self.open.is_none() {
            let done = self.directory.join(format!("capture-{:020}.jsonl.zst", line.time_us().max(0)));
            let partial = done.with_extension("zst.partial");
            let encoder = zstd::Encoder::new(BufWriter::new(File::create(&partial)?), LEVEL)?;
            self.open = Some(Open { encoder, partial, done, bytes: 0 });
        }
        self.line.clear();
        serde_json::to_writer(&mut self.line, line)?;
        self.line.push(b'\n');
        let open = self.open.as_mut().expect("opened above");
        open.encoder.write_all(&self.line)?;
        open.bytes += self.line.len() as u64;
        if open.bytes >= self.rotate_bytes {
            self.finish()?;
        }
        Ok(())
    }

    /// Completes the current file, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(open) = self.open.take() {
            let mut writer = open.encoder.finish()?;
            writer.flush()?;
            writer.get_ref().sync_all()?;
            std::fs::rename(&open.partial, &open.done)?;
        }
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Err(error) = self.finish() {
            tracing::error!(%error, "cannot complete the capture file");
        }
    }
}
