//! Processor state on local disk, one file per input partition, replaced atomically at every
//! commit: written whole to a temporary file, synced, then renamed over the previous one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tickflow_core::processor::ProcessorSnapshot;

/// The state of one partition's processor after everything before `next_offset` was processed
/// and all its outputs were acknowledged.
#[derive(Debug, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
    pub processor: ProcessorSnapshot,
}

#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        let probe = dir.join(".writable");
        fs::write(&probe, b"").with_context(|| format!("the state directory {} is not writable", dir.display()))?;
        let _ = fs::remove_file(probe);
        Ok(SnapshotStore { dir: dir.to_owned() })
    }

    fn path(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir.join(format!("{topic}-{partition}.snapshot"))
    }

    pub fn save(&self, snapshot: &PartitionSnapshot) -> anyhow::Result<()> {
        let encoded = postcard::to_stdvec(snapshot).context("encoding a state snapshot")?;
        let compressed = zstd::encode_all(encoded.as_slice(), 1).context("compressing a state snapshot")?;
        let path = self.path(&snapshot.topic, snapshot.partition);
        let temporary = path.with_extension("snapshot.tmp");
        let mut file = fs::File::create(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
        file.write_all(&compressed)?;
        file.sync_all()?;
        fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// The saved state of a partition; `None` if there is none or it cannot be read (then the
    /// partition starts from its committed offset with empty state).
    pub fn load(&self, topic: &str, partition: i32) -> Option<PartitionSnapshot> {
        let path = self.path(topic, partition);
        let compressed = fs::read(&path).ok()?;
        let decoded = zstd::decode_all(compressed.as_slice())
            .ok()
            .and_then(|bytes| postcard::from_bytes::<PartitionSnapshot>(&bytes).ok());
        if decoded.is_none() {
            tracing::warn!(path = %path.display(), "state snapshot unreadable; ignoring it");
        }
        decoded.filter(|s| s.topic == topic && s.partition == partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
    use tickflow_core::reference::ReferenceData;

    #[test]
    fn snapshots_round_trip_and_replace_each_other() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SnapshotStore::open(dir.path()).expect("opens");
        assert!(store.load("raw_trades", 0).is_none());
        let reference = ReferenceData::bundled().expect("reference");
        let processor = StreamProcessor::new(ProcessorConfig::default(), reference).expect("processor");
        for next_offset in [10, 20] {
            let snapshot = PartitionSnapshot {
                topic: "raw_trades".into(),
                partition: 0,
                next_offset,
                processor: processor.snapshot(),
            };
            store.save(&snapshot).expect("saves");
        }
        assert_eq!(store.load("raw_trades", 0).map(|s| s.next_offset), Some(20));
        assert!(store.load("raw_trades", 1).is_none());
        fs::write(dir.path().join("raw_trades-1.snapshot"), b"garbage").expect("writes");
        assert!(store.load("raw_trades", 1).is_none(), "an unreadable snapshot is ignored");
    }
}
