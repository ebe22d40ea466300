//! One batch into the lake, exactly once, in one call: [`commit_batch`].
//!
//! The protocol (see [`crate::store`]): the batch's marker first, then each file encoded and
//! written create-only (an existing file is accepted only when its metadata names exactly the
//! same records: an earlier attempt of ours), then older markers pruned. Every step is
//! idempotent, so a caller retries the whole call after a transient failure, and a writer killed
//! anywhere in it is completed by the next one from the marker.

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::LakeTable;
use crate::encode::{FileMetadata, encode_records};
use crate::store::{BatchMarker, PutOutcome, StoreError, prune_markers, put_create, write_marker};

/// The records of one future file: consecutive records of the batch's partition that belong
/// to one table, date and symbol.
#[derive(Debug)]
pub struct FileRecords {
    pub table: LakeTable,
    pub path: String,
    pub first_offset: i64,
    pub last_offset: i64,
    pub records: u64,
    /// Newline-separated JSON records.
    pub lines: Vec<u8>,
}

/// A contiguous range of offsets of one topic partition and the files it becomes.
#[derive(Debug)]
pub struct LakeBatch<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub files: Vec<&'a FileRecords>,
}

/// What a commit did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Files written now: table and rows.
    pub written: Vec<(LakeTable, u64)>,
    /// Files an earlier attempt had already written with the same records.
    pub already_there: u64,
    /// Records that break their table's contract, left out of their files (never their content).
    pub rejected_rows: u64,
    /// Paths of the files those records were left out of.
    pub files_with_rejections: Vec<String>,
}

/// How many markers of a partition [`commit_batch`] keeps when asked to prune.
pub const MARKERS_KEPT: usize = 5;

impl LakeBatch<'_> {
    pub fn marker(&self) -> BatchMarker {
        BatchMarker {
            topic: self.topic.to_owned(),
            partition: self.partition,
            first_offset: self.first_offset,
            last_offset: self.last_offset,
            files: self.files.iter().map(|f| f.path.clone()).collect(),
        }
    }

    fn metadata(&self, file: &FileRecords) -> FileMetadata {
        FileMetadata {
            topic: self.topic.to_owned(),
            partition: self.partition,
            first_offset: file.first_offset,
            last_offset: file.last_offset,
            records: file.records,
            batch_first: self.first_offset,
            batch_last: self.last_offset,
        }
    }
}

/// Writes `batch` into the lake: marker, files create-only, and (with `prune`) all but the
/// newest [`MARKERS_KEPT`] markers of the partition. Fails on a conflict with a file that holds
/// other records, and on store errors (retry the call when [`StoreError::is_transient`]). A
/// failed prune does not fail the commit: the batch is in the lake, and the next prune catches up.
pub async fn commit_batch(
    store: &dyn ObjectStore,
    batch: &LakeBatch<'_>,
    prune: bool,
) -> Result<CommitReport, StoreError> {
    write_marker(store, &batch.marker()).await?;
    let mut report = CommitReport::default();
    for file in &batch.files {
        let metadata = batch.metadata(file);
        let Some((encoded, metadata, rejected)) = encode_valid(file, metadata) else {
            report.rejected_rows += file.records;
            report.files_with_rejections.push(file.path.clone());
            continue;
        };
        if rejected > 0 {
            report.rejected_rows += rejected;
            report.files_with_rejections.push(file.path.clone());
        }
        match put_create(store, &Path::from(file.path.as_str()), encoded, &metadata).await? {
            PutOutcome::Written => report.written.push((file.table, metadata.records)),
            PutOutcome::AlreadyThere => report.already_there += 1,
        }
    }
    if prune {
        let _ = prune_markers(store, batch.topic, batch.partition, MARKERS_KEPT).await;
    }
    Ok(report)
}

/// Encodes a file; records that break the contract are left out one by one so they cannot
/// block the partition. Returns the file, its metadata and how many records were left out, or
/// `None` when none is left.
fn encode_valid(file: &FileRecords, metadata: FileMetadata) -> Option<(Bytes, FileMetadata, u64)> {
    if let Ok(encoded) = encode_records(file.table, &file.lines, &metadata) {
        return Some((encoded, metadata, 0));
    }
    let mut kept = Vec::with_capacity(file.lines.len());
    let mut rejected = 0;
    for line in file.lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let mut single = line.to_vec();
        single.push(b'\n');
        if encode_records(file.table, &single, &metadata).is_ok() {
            kept.extend_from_slice(&single);
        } else {
            rejected += 1;
        }
    }
    let records = kept.iter().filter(|&&b| b == b'\n').count() as u64;
    if records == 0 {
        return None;
    }
    let metadata = FileMetadata { records, ..metadata };
    encode_records(file.table, &kept, &metadata).ok().map(|encoded| (encoded, metadata, rejected))
}
