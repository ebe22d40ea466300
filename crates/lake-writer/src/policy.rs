//! When a batch is written: by age, by records, by bytes.

use std::time::Duration;

use crate::batch::Batch;

#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    /// At the latest this long after its first record.
    pub interval: Duration,
    /// Once it holds this many records.
    pub max_records: u64,
    /// Once it holds this many bytes of records.
    pub max_bytes: usize,
}

impl FlushPolicy {
    /// Whether `batch` is due now. A batch completing an interrupted one is never due: it is
    /// written when it reaches the end its marker names.
    pub fn due(&self, batch: &Batch) -> bool {
        !batch.is_empty()
            && batch.forced_last.is_none()
            && (batch.started.elapsed() >= self.interval
                || batch.records() >= self.max_records
                || batch.bytes >= self.max_bytes)
    }
}
