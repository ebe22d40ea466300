//! Capture: every frame the producer receives, with its receive time, to zstd-compressed JSON
//! Lines files (`capture-<first receive time in µs>.jsonl.zst`, one [`Received`] per line) that
//! rotate after a number of uncompressed bytes. A file is written as `….partial` and renamed
//! when complete, so a reader (a replay) only ever sees whole files. `--source replay` plays a
//! file or a folder of them back.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::source::Received;

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

    pub fn write(&mut self, received: &Received) -> std::io::Result<()> {
        if self.open.is_none() {
            let done = self.directory.join(format!("capture-{:020}.jsonl.zst", received.time_us().max(0)));
            let partial = done.with_extension("zst.partial");
            let encoder = zstd::Encoder::new(BufWriter::new(File::create(&partial)?), LEVEL)?;
            self.open = Some(Open { encoder, partial, done, bytes: 0 });
        }
        self.line.clear();
        serde_json::to_writer(&mut self.line, received)?;
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
