//! The input partitions this member of the lake-writer group owns: a batch per partition, which
//! resumes where the lake says when the group assigns the partition (after the latest complete
//! batch, or replaying an interrupted one) and is written out before the partition leaves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use tickflow_kafka::group::{NextOffset, OwnerError, PartitionOwner, RebalanceStep, TopicPartition};
use tickflow_kafka::{KafkaRecord, Record};
use tickflow_service::metrics::{ServiceMetrics, TopicLabel};

use crate::INPUTS;
use crate::batch::{Added, Batch};
use crate::policy::FlushPolicy;
use crate::resume::{ResumePoint, resume_point};
use crate::writer::LakeWriter;

pub struct Assignment {
    writer: LakeWriter,
    policy: FlushPolicy,
    batches: BTreeMap<(&'static str, i32), Batch>,
    records_in: [Counter; 3],
    metrics: ServiceMetrics,
    redelivered: Counter,
    /// Whether the group has assigned this member anything yet (an empty share included).
    pub joined: bool,
    /// Set when a write failed: nothing more is written, the next owner resumes from the lake.
    failed: bool,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assignment").field("partitions", &self.batches.keys()).finish_non_exhaustive()
    }
}

impl Assignment {
    pub fn new(writer: LakeWriter, policy: FlushPolicy) -> Self {
        let metrics = &writer.metrics;
        Assignment {
            records_in: INPUTS.map(|topic| metrics.counter_in(topic)),
            metrics: metrics.clone(),
            redelivered: ServiceMetrics::named(&metrics.events, "record_redelivered"),
            writer,
            policy,
            batches: BTreeMap::new(),
            joined: false,
            failed: false,
        }
    }

    /// Adds a record to its partition's batch; writes the batch when it completes an
    /// interrupted one. Returns the position to commit when it wrote.
    pub fn add(&mut self, record: &Record<'_>) -> anyhow::Result<Option<NextOffset>> {
        let Some(input) = INPUTS.iter().position(|t| *t == record.topic()) else { return Ok(None) };
        self.records_in[input].inc();
        let Some(batch) = self.batches.get_mut(&(INPUTS[input], record.partition())) else { return Ok(None) };
        match batch.add(record) {
            Added::Routed => {}
            Added::DeadLettered(reason) => {
                self.metrics.rejection("lake-writer", reason.as_str()).inc();
            }
            Added::Redelivered => {
                self.redelivered.inc();
            }
        }
        if batch.forced_last == Some(batch.last_offset) {
            return Ok(Some(write(&mut self.writer, batch, &mut self.failed)?));
        }
        Ok(None)
    }

    /// Writes every batch the policy says is due at `now`. Returns the positions to commit.
    pub fn flush_due(&mut self, now: Instant) -> anyhow::Result<Vec<NextOffset>> {
        let policy = self.policy;
        self.flush_where(|batch| policy.due(batch, now))
    }

    /// Writes every batch with records, except one completing an interrupted batch (the next
    /// owner replays that whole). Returns the positions to commit.
    pub fn flush_all(&mut self) -> anyhow::Result<Vec<NextOffset>> {
        self.flush_where(|batch| !batch.is_empty() && batch.forced_last.is_none())
    }

    fn flush_where(&mut self, due: impl Fn(&Batch) -> bool) -> anyhow::Result<Vec<NextOffset>> {
        let mut written = Vec::new();
        for batch in self.batches.values_mut() {
            if due(batch) {
                written.push(write(&mut self.writer, batch, &mut self.failed)?);
            }
        }
        Ok(written)
    }

    /// Counts a consumer error that is retried.
    pub fn consumer_retried(&self) {
        ServiceMetrics::named(&self.writer.metrics.retries, "consume").inc();
    }

    pub fn metrics(&self) -> &ServiceMetrics {
        &self.writer.metrics
    }

    /// The next offset to read of each owned partition that has read something.
    pub fn positions(&self) -> Vec<NextOffset> {
        self.batches
            .values()
            .filter_map(|b| {
                b.next_offset.map(|offset| NextOffset { topic: b.topic.to_owned(), partition: b.partition, offset })
            })
            .collect()
    }

    /// Sets `lake_oldest_unwritten_timestamp_seconds` of each input topic: when the oldest
    /// record its batches hold was read (0 when they hold none). A timestamp, not an age, so it
    /// stays true while a write waits on the lake.
    pub fn record_oldest_unwritten(&self) {
        let now = SystemTime::now();
        for topic in INPUTS {
            let held = self.batches.values().filter(|b| b.topic == topic && !b.is_empty());
            let oldest = held.map(|b| b.started).min();
            let read_at = oldest.and_then(|started| now.checked_sub(started.elapsed()));
            let seconds = read_at.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0.0, |d| d.as_secs_f64());
            let labels = TopicLabel { topic: topic.to_owned() };
            self.writer.metrics.lake_oldest_unwritten_timestamp_seconds.get_or_create(&labels).set(seconds);
        }
    }

    fn record_share(&self) {
        for topic in INPUTS {
            let owned = self.batches.keys().filter(|(t, _)| *t == topic).count();
            self.writer
                .metrics
                .assigned_partitions
                .get_or_create(&TopicLabel { topic: topic.to_owned() })
                .set(owned as i64);
        }
    }
}

/// Writes a batch and starts the partition's next one; returns the position to commit.
fn write(writer: &mut LakeWriter, batch: &mut Batch, failed: &mut bool) -> anyhow::Result<NextOffset> {
    anyhow::ensure!(!*failed, "an earlier write failed; nothing more is written");
    if let Err(error) = writer.write(batch) {
        *failed = true;
        return Err(error);
    }
    let next = NextOffset { topic: batch.topic.to_owned(), partition: batch.partition, offset: batch.last_offset + 1 };
    *batch = batch.next();
    Ok(next)
}

impl PartitionOwner for Assignment {
    fn assigned(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>, OwnerError> {
        let mut starts = Vec::new();
        for assigned in partitions {
            let Some(topic) = INPUTS.iter().copied().find(|t| *t == assigned.topic) else {
                starts.push(None);
                continue;
            };
            let restore_started = Instant::now();
            let ResumePoint { start, forced_last } = resume_point(&self.writer, topic, assigned.partition)?;
            // The batch drops what lies before `start`.
            self.batches.insert((topic, assigned.partition), Batch::new(topic, assigned.partition, forced_last, start));
            let labels = TopicLabel { topic: topic.to_owned() };
            self.writer.metrics.restore_seconds.get_or_create(&labels).observe(restore_started.elapsed().as_secs_f64());
            tracing::info!(
                topic,
                partition = assigned.partition,
                ?start,
                ?forced_last,
                "partition resumed from the lake"
            );
            starts.push(start);
        }
        Ok(starts)
    }

    fn revoked(&mut self, partitions: &[TopicPartition], lost: bool) -> Result<Vec<NextOffset>, OwnerError> {
        let leaving: BTreeSet<(&str, i32)> = partitions.iter().map(|p| (p.topic.as_str(), p.partition)).collect();
        let mut offsets = Vec::new();
        let keys: Vec<(&'static str, i32)> = self.batches.keys().copied().filter(|k| leaving.contains(k)).collect();
        for key in keys {
            let Some(mut batch) = self.batches.remove(&key) else { continue };
            self.writer.metrics.clear_lag(key.0, key.1);
            // An interrupted batch being completed is left to the next owner, which replays it whole.
            if !lost && !self.failed && !batch.is_empty() && batch.forced_last.is_none() {
                offsets.push(write(&mut self.writer, &mut batch, &mut self.failed)?);
            }
        }
        Ok(offsets)
    }

    fn rebalanced(&mut self, step: RebalanceStep, took: Duration) {
        self.joined = true;
        self.record_share();
        self.writer.metrics.record_rebalance(step.as_str(), took.as_secs_f64());
    }
}
