//! Turning a batch into lake files: marker first, then every file create-only, then the
//! offset commit. Retries transient store failures with capped backoff; while it retries the
//! consumer is not polled, so memory stays bounded by the batch and librdkafka's queue.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::path::Path;
use prometheus_client::metrics::counter::Counter;
use tickflow_lake::encode::encode_records;
use tickflow_lake::store::{PutOutcome, StoreError, prune_markers, put_create, write_marker};
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::shutdown::Shutdown;
use tokio::runtime::Runtime;

use crate::batch::{Batch, Group};

pub struct LakeWriter {
    pub store: Arc<dyn ObjectStore>,
    pub runtime: Runtime,
    pub metrics: ServiceMetrics,
    pub shutdown: Shutdown,
    flushes: u64,
    already_there: Counter,
    rejected_rows: Counter,
}

impl LakeWriter {
    pub fn new(store: Arc<dyn ObjectStore>, runtime: Runtime, metrics: ServiceMetrics, shutdown: Shutdown) -> Self {
        let already_there = ServiceMetrics::named(&metrics.events, "file_already_written");
        let rejected_rows = metrics.rejection("lake-writer", "schema_error");
        LakeWriter { store, runtime, metrics, shutdown, flushes: 0, already_there, rejected_rows }
    }

    /// Writes every file of the batch. Returns once all exist, or fails on a conflict (or on a
    /// transient failure when a stop was requested).
    pub fn write(&mut self, batch: &Batch) -> anyhow::Result<()> {
        let marker = batch.marker();
        self.retry("write_marker", || self.runtime.block_on(write_marker(self.store.as_ref(), &marker)))?;
        for group in batch.groups.values() {
            let file = self.encode(batch, group);
            let Some((file, metadata)) = file else { continue };
            let path = Path::from(group.path.as_str());
            let outcome = self.retry("put_file", || {
                self.runtime.block_on(put_create(self.store.as_ref(), &path, file.clone(), &metadata))
            })?;
            match outcome {
                PutOutcome::Written => {
                    ServiceMetrics::named(&self.metrics.files_written, group.table.name).inc();
                    ServiceMetrics::named(&self.metrics.rows_written, group.table.name).inc_by(metadata.records);
                }
                PutOutcome::AlreadyThere => {
                    self.already_there.inc();
                }
            }
        }
        self.flushes += 1;
        if self.flushes.is_multiple_of(20) {
            let _ = self.runtime.block_on(prune_markers(self.store.as_ref(), batch.topic, batch.partition, 5));
        }
        Ok(())
    }

    /// Encodes a group; records that break the contract are dropped one by one (counted, never
    /// logged with their content) so they cannot block the partition.
    fn encode(&self, batch: &Batch, group: &Group) -> Option<(bytes::Bytes, tickflow_lake::encode::FileMetadata)> {
        let metadata = batch.file_metadata(group);
        if let Ok(file) = encode_records(group.table, &group.lines, &metadata) {
            return Some((file, metadata));
        }
        let mut kept = Vec::with_capacity(group.lines.len());
        for line in group.lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let mut single = line.to_vec();
            single.push(b'\n');
            if encode_records(group.table, &single, &metadata).is_ok() {
                kept.extend_from_slice(&single);
            } else {
                self.rejected_rows.inc();
            }
        }
        tracing::error!(table = group.table.name, path = group.path, "records that break the contract were left out");
        let records = kept.iter().filter(|&&b| b == b'\n').count() as u64;
        if records == 0 {
            return None;
        }
        let metadata = tickflow_lake::encode::FileMetadata { records, ..metadata };
        encode_records(group.table, &kept, &metadata).ok().map(|file| (file, metadata))
    }

    fn retry<T>(&self, operation: &str, mut attempt: impl FnMut() -> Result<T, StoreError>) -> anyhow::Result<T> {
        let mut delay = Duration::from_millis(200);
        loop {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() && !self.shutdown.requested() => {
                    tracing::warn!(operation, %error, retry_in_ms = delay.as_millis() as u64, "object store unavailable; retrying");
                    ServiceMetrics::named(&self.metrics.retries, operation).inc();
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}
