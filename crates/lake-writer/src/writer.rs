//! Batches into the lake through `tickflow_lake::commit`, with the retries and counters of the
//! service around that one call. Transient store failures are retried with capped backoff;
//! while it retries the consumer is not polled, so memory stays bounded by the batch and
//! librdkafka's queue.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tickflow_lake::LakeTable;
use tickflow_lake::commit::{CommitReport, commit_batch};
use tickflow_lake::store::{BatchMarker, StoreError, latest_marker, missing_files};
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::shutdown::Shutdown;
use tokio::runtime::Runtime;

use crate::batch::Batch;

/// Markers are pruned once every this many batches.
const PRUNE_EVERY: u64 = 20;

/// The lake as the service sees it: a store, the runtime its calls run on, and their counters.
pub struct LakeWriter {
    store: Arc<dyn ObjectStore>,
    runtime: Runtime,
    pub metrics: ServiceMetrics,
    shutdown: Shutdown,
    batches: u64,
    already_there: Counter,
    rejected_rows: Counter,
    /// A batch's first record read to the batch committed in the lake.
    read_to_lake: Histogram,
    /// Files and rows written, per table (`LakeTable::ALL`'s order).
    written: Vec<(LakeTable, Counter, Counter)>,
}

impl std::fmt::Debug for LakeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeWriter").field("store", &self.store.to_string()).finish_non_exhaustive()
    }
}

impl LakeWriter {
    /// A writer into `store`; `shutdown` ends retries of a store that stays unavailable.
    pub fn new(store: Arc<dyn ObjectStore>, metrics: ServiceMetrics, shutdown: Shutdown) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let already_there = ServiceMetrics::named(&metrics.events, "file_already_written");
        let rejected_rows = metrics.rejection("lake-writer", "schema_error");
        let read_to_lake = ServiceMetrics::named(&metrics.latency_seconds, "read_to_lake");
        let written = LakeTable::ALL
            .iter()
            .map(|table| {
                let files = ServiceMetrics::named(&metrics.files_written, table.name);
                (*table, files, ServiceMetrics::named(&metrics.rows_written, table.name))
            })
            .collect();
        Ok(LakeWriter {
            store,
            runtime,
            metrics,
            shutdown,
            batches: 0,
            already_there,
            rejected_rows,
            read_to_lake,
            written,
        })
    }

    /// Writes every file of the batch. Returns once all exist, or fails on a conflict (or on a
    /// transient failure when a stop was requested).
    pub fn write(&mut self, batch: &Batch) -> anyhow::Result<()> {
        self.batches += 1;
        let prune = self.batches.is_multiple_of(PRUNE_EVERY);
        let lake_batch = batch.to_lake();
        let report = self
            .retry("commit_batch", || self.runtime.block_on(commit_batch(self.store.as_ref(), &lake_batch, prune)))?;
        self.count(&report);
        self.read_to_lake.observe(batch.started.elapsed().as_secs_f64());
        Ok(())
    }

    fn count(&self, report: &CommitReport) {
        for (table, rows) in &report.written {
            if let Some((_, files, rows_written)) = self.written.iter().find(|(t, _, _)| t == table) {
                files.inc();
                rows_written.inc_by(*rows);
            }
        }
        self.already_there.inc_by(report.already_there);
        self.rejected_rows.inc_by(report.rejected_rows);
        for path in &report.files_with_rejections {
            tracing::error!(path, "records that break the contract were left out");
        }
    }

    /// The latest batch marker of a partition.
    pub fn latest_marker(&self, topic: &str, partition: i32) -> anyhow::Result<Option<BatchMarker>> {
        Ok(self
            .retry("latest_marker", || self.runtime.block_on(latest_marker(self.store.as_ref(), topic, partition)))?)
    }

    /// The files a marker lists that are not in the lake.
    pub fn missing_files(&self, marker: &BatchMarker) -> anyhow::Result<Vec<String>> {
        Ok(self.retry("missing_files", || self.runtime.block_on(missing_files(self.store.as_ref(), marker)))?)
    }

    fn retry<T>(&self, operation: &str, mut attempt: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
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
                Err(error) => return Err(error),
            }
        }
    }
}
