//! The partitions of `raw_trades` this member of the processor group owns: a worker per
//! partition, restored when the group assigns the partition (state from the changelog, the last
//! outputs already written read back) and finished before it leaves (outputs acknowledged, state
//! saved, offset committed), so that the next owner, on this instance or another, starts exactly
//! where this one stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tickflow_core::contract::Venue;
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_kafka::consumer;
use tickflow_kafka::group::{NextOffset, OwnerError, PartitionOwner, RebalanceStep, TopicPartition};
use tickflow_kafka::producer::OutputProducer;
use tickflow_kafka::{KafkaArgs, KafkaRecord, Record};
use tickflow_service::metrics::{PartitionLabels, ServiceMetrics, TopicLabel};
use tickflow_service::now_us;

use crate::changelog::{EncodedState, PartitionSnapshot, StateChangelog};
use crate::error::ProcessorError;
use crate::outputs::{Output, PerOutput};
use crate::worker::{Input, PartitionWorker, Sink, WorkerCounters};

/// What a partition's worker is built from.
#[derive(Debug)]
pub struct Setup {
    pub kafka: KafkaArgs,
    pub config: ProcessorConfig,
    pub reference: ReferenceData,
    pub changelog: StateChangelog,
    pub producer: OutputProducer,
    pub metrics: ServiceMetrics,
}

/// The assignment's own metrics, created once.
#[derive(Debug, Clone)]
struct AssignmentMetrics {
    /// How long a commit stops the poll loop, and its two stages: waiting for the outputs sent
    /// before the checkpoint to be acknowledged (normally none), saving the state.
    commit: Histogram,
    commit_outputs: Histogram,
    commit_state: Histogram,
    consume_retries: Counter,
    state_restored: Counter,
    restore_seconds: Histogram,
}

impl AssignmentMetrics {
    fn new(service: &ServiceMetrics) -> Self {
        let latency = |name: &str| ServiceMetrics::named(&service.latency_seconds, name);
        AssignmentMetrics {
            commit: latency("commit"),
            commit_outputs: latency("commit_outputs"),
            commit_state: latency("commit_state"),
            consume_retries: ServiceMetrics::named(&service.retries, "consume"),
            state_restored: ServiceMetrics::named(&service.events, "state_restored"),
            restore_seconds: service
                .restore_seconds
                .get_or_create(&TopicLabel { topic: RAW_TRADES.to_owned() })
                .clone(),
        }
    }
}

/// How long a commit waits for outputs to be acknowledged before the processor gives up (and a
/// restart replays them).
const ACKNOWLEDGE_TIMEOUT: Duration = Duration::from_secs(120);

const FAILED: &str = "a record's processing failed; its partition's state is not saved";
const UNACKNOWLEDGED: &str = "outputs were not acknowledged; stopping so a restart replays them";

/// A commit under way: the state and position of each partition that had changed when it was
/// taken, saved once every output sent before `outputs_mark` is acknowledged.
#[derive(Debug)]
struct Checkpoint {
    outputs_mark: u64,
    states: Vec<EncodedState>,
}

#[derive(Debug)]
pub struct Assignment {
    setup: Setup,
    workers: BTreeMap<i32, PartitionWorker>,
    counters: WorkerCounters,
    own: AssignmentMetrics,
    /// Whether the group has assigned this member anything yet (an empty share included).
    pub joined: bool,
    /// The checkpoint waiting for its outputs to be acknowledged.
    pending: Option<Checkpoint>,
    /// Set when a record's processing failed half-way: that state must never be saved, so the
    /// partitions are given up without writing anything and the next owner replays.
    failed: bool,
}

impl Assignment {
    pub fn new(setup: Setup) -> Self {
        let counters = WorkerCounters::new(&setup.metrics);
        let own = AssignmentMetrics::new(&setup.metrics);
        Assignment { setup, workers: BTreeMap::new(), counters, own, joined: false, pending: None, failed: false }
    }

    /// Processes one record of an owned partition.
    pub fn handle(&mut self, record: &Record<'_>) -> Result<(), ProcessorError> {
        let Some(worker) = self.workers.get_mut(&record.partition()) else { return Ok(()) };
        let input =
            Input { offset: record.offset(), kind: record.kind(), key: record.key(), payload: record.payload() };
        let sink = Sink { producer: &self.setup.producer, counters: &self.counters, now_us: now_us() };
        let handled = worker.handle(input, sink);
        self.failed |= handled.is_err();
        handled
    }

    /// Counts a consumer error that is retried.
    pub fn consumer_retried(&self) {
        self.own.consume_retries.inc();
    }

    /// Sets `consumer_lag` of an owned partition.
    pub fn record_lag(&self, partition: i32, lag: i64) {
        self.setup.metrics.set_lag(RAW_TRADES, partition, lag);
    }

    /// Serves the producer's delivery reports.
    pub fn poll_producer(&self) {
        self.setup.producer.poll();
    }

    /// Commits without stopping the poll loop for the outputs in flight. Each call first saves
    /// the checkpoint the previous call took, once every output sent before it is acknowledged
    /// (normally long since; while the outputs cannot be written, the call waits, which is what
    /// pauses the processor and bounds what is in flight to about two commit intervals of
    /// output), and returns its offsets; then it takes a new checkpoint: the state and position
    /// of every partition that changed, with a mark after the outputs sent so far. A crash before
    /// a checkpoint is saved repeats work but loses nothing.
    pub fn commit(&mut self) -> anyhow::Result<Vec<NextOffset>> {
        anyhow::ensure!(!self.failed, FAILED);
        let started = Instant::now();
        let mut offsets = Vec::new();
        if let Some(checkpoint) = self.pending.take() {
            self.setup
                .producer
                .wait_acknowledged_before(checkpoint.outputs_mark, ACKNOWLEDGE_TIMEOUT)
                .context(UNACKNOWLEDGED)?;
            self.own.commit_outputs.observe(started.elapsed().as_secs_f64());
            offsets = self.save(checkpoint.states)?;
        }
        self.pending = self.checkpoint(|_| true)?;
        self.own.commit.observe(started.elapsed().as_secs_f64());
        Ok(offsets)
    }

    /// Finishes every owned partition's work so far, waiting for its outputs; returns the
    /// offsets to commit. For the last commit before leaving the group.
    pub fn commit_all(&mut self) -> anyhow::Result<Vec<NextOffset>> {
        self.finish(|_| true)
    }

    /// The position of each owned partition that has one.
    pub fn positions(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.workers.values().filter_map(|w| w.next_offset.map(|next| (w.partition, next)))
    }

    /// Waits for every output to be acknowledged, saves the state of each chosen partition that
    /// changed (and the pending checkpoint, which is now complete), and returns their offsets: a
    /// crash anywhere in between repeats work but loses nothing.
    fn finish(&mut self, chosen: impl Fn(i32) -> bool) -> anyhow::Result<Vec<NextOffset>> {
        anyhow::ensure!(!self.failed, FAILED);
        let started = Instant::now();
        self.setup.producer.flush(ACKNOWLEDGE_TIMEOUT).context(UNACKNOWLEDGED)?;
        self.own.commit_outputs.observe(started.elapsed().as_secs_f64());
        let newer = self.checkpoint(chosen)?.map(|c| c.states).unwrap_or_default();
        let mut states = self.pending.take().map(|c| c.states).unwrap_or_default();
        states.retain(|old| !newer.iter().any(|new| new.partition == old.partition));
        states.extend(newer);
        let offsets = self.save(states)?;
        self.own.commit.observe(started.elapsed().as_secs_f64());
        Ok(offsets)
    }

    /// The state and position of each chosen partition that changed since its last checkpoint,
    /// with a mark after every output sent so far; `None` when nothing changed.
    fn checkpoint(&mut self, chosen: impl Fn(i32) -> bool) -> anyhow::Result<Option<Checkpoint>> {
        let outputs_mark = self.setup.producer.mark();
        let mut states = Vec::new();
        for worker in self.workers.values_mut().filter(|w| w.dirty && chosen(w.partition)) {
            worker.dirty = false;
            let Some(next_offset) = worker.next_offset else { continue };
            states.push(EncodedState::encode(&PartitionSnapshot {
                topic: RAW_TRADES.to_owned(),
                partition: worker.partition,
                next_offset,
                processor: worker.processor().snapshot(),
            })?);
        }
        Ok((!states.is_empty()).then_some(Checkpoint { outputs_mark, states }))
    }

    /// Sends each snapshot to the changelog and waits for it; returns the offsets they make safe.
    fn save(&self, states: Vec<EncodedState>) -> anyhow::Result<Vec<NextOffset>> {
        let started = Instant::now();
        let mut offsets = Vec::new();
        for state in states {
            self.setup.changelog.save(&state)?;
            let labels = PartitionLabels { topic: RAW_TRADES.to_owned(), partition: state.partition.to_string() };
            self.setup.metrics.state_bytes.get_or_create(&labels).set(state.compressed_bytes() as i64);
            offsets.push(NextOffset {
                topic: RAW_TRADES.to_owned(),
                partition: state.partition,
                offset: state.next_offset,
            });
        }
        if !offsets.is_empty() {
            self.setup.changelog.flush()?;
            self.own.commit_state.observe(started.elapsed().as_secs_f64());
        }
        Ok(offsets)
    }

    /// Forgets the checkpoint under way (its outputs may never be acknowledged): its partitions
    /// that are still owned count as changed again.
    fn drop_pending(&mut self) {
        for state in self.pending.take().map(|c| c.states).unwrap_or_default() {
            if let Some(worker) = self.workers.get_mut(&state.partition) {
                worker.dirty = true;
            }
        }
    }

    /// Sets the held-source gauges: a venue is held while any owned partition's processor holds it.
    pub fn record_holds(&self) {
        let metrics = &self.setup.metrics;
        for venue in Venue::ALL {
            let mut ahead_s: Option<f64> = None;
            for worker in self.workers.values() {
                let processor = worker.processor();
                let status = processor.sources().find(|(v, _)| *v == venue).map(|(_, s)| s).unwrap_or_default();
                if let (Some(held), false) = (status.held_at_us, status.lost) {
                    let ahead = processor.stream_watermark_us().saturating_sub(held).max(0) as f64 / 1e6;
                    ahead_s = Some(ahead_s.map_or(ahead, |a| a.max(ahead)));
                }
            }
            ServiceMetrics::venue(&metrics.source_held, venue.as_str()).set(i64::from(ahead_s.is_some()));
            ServiceMetrics::venue(&metrics.source_hold_seconds, venue.as_str()).set(ahead_s.unwrap_or(0.0));
        }
    }
}

impl PartitionOwner for Assignment {
    fn assigned(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>, OwnerError> {
        // Restored side by side: each waits on the broker, not on the CPU.
        let restored: Vec<anyhow::Result<(PartitionWorker, Option<i64>)>> = std::thread::scope(|scope| {
            let (setup, own) = (&self.setup, &self.own);
            let jobs: Vec<_> =
                partitions.iter().map(|p| scope.spawn(move || restore(setup, own, p.partition))).collect();
            jobs.into_iter()
                .map(|job| job.join().unwrap_or_else(|_| Err(anyhow::anyhow!("restore thread failed"))))
                .collect()
        });
        let mut starts = Vec::new();
        for outcome in restored {
            let (worker, start) = outcome?;
            self.workers.insert(worker.partition, worker);
            starts.push(start);
        }
        Ok(starts)
    }

    fn revoked(&mut self, partitions: &[TopicPartition], lost: bool) -> Result<Vec<NextOffset>, OwnerError> {
        let leaving: BTreeSet<i32> = partitions.iter().map(|p| p.partition).collect();
        let offsets = if lost || self.failed {
            self.drop_pending();
            Vec::new()
        } else {
            self.finish(|p| leaving.contains(&p))?
        };
        for partition in &leaving {
            self.workers.remove(partition);
            self.setup.metrics.clear_lag(RAW_TRADES, *partition);
        }
        Ok(offsets)
    }

    fn rebalanced(&mut self, step: RebalanceStep, took: Duration) {
        self.joined = true;
        let labels = TopicLabel { topic: RAW_TRADES.to_owned() };
        self.setup.metrics.assigned_partitions.get_or_create(&labels).set(self.workers.len() as i64);
        self.setup.metrics.record_rebalance(step.as_str(), took.as_secs_f64());
    }
}

/// A partition's worker and where it resumes: from its state in the changelog when there is one,
/// otherwise from the committed offset (`None`) with empty state.
fn restore(setup: &Setup, own: &AssignmentMetrics, partition: i32) -> anyhow::Result<(PartitionWorker, Option<i64>)> {
    let started = Instant::now();
    let Setup { config, reference, .. } = setup;
    let (processor, start) = match setup.changelog.load(partition)? {
        Some(PartitionSnapshot { next_offset, processor, .. }) => {
            match StreamProcessor::restore(config.clone(), reference.clone(), processor) {
                Ok(restored) => {
                    own.state_restored.inc();
                    (restored, Some(next_offset))
                }
                Err(error) => {
                    tracing::warn!(partition, %error, "state snapshot not usable; starting with empty state");
                    (StreamProcessor::new(config.clone(), reference.clone())?, None)
                }
            }
        }
        None => (StreamProcessor::new(config.clone(), reference.clone())?, None),
    };
    let written = last_outputs(&setup.kafka, partition)?;
    let elapsed = started.elapsed().as_secs_f64();
    own.restore_seconds.observe(elapsed);
    tracing::info!(partition, start = ?start, already_written = ?written, seconds = elapsed, "partition restored");
    // The worker drops what lies before `start`.
    Ok((PartitionWorker::new(partition, processor, start, written), start))
}

/// The provenance of the last output of `partition` in each output topic, read in parallel.
fn last_outputs(kafka: &KafkaArgs, partition: i32) -> anyhow::Result<PerOutput<Option<(i64, u32)>>> {
    let found = std::thread::scope(|scope| {
        let probes = PerOutput::from_fn(|output| scope.spawn(move || last_output(kafka, output, partition)));
        probes.map(|probe| probe.join().unwrap_or_else(|_| Err(anyhow::anyhow!("probe thread failed"))))
    });
    Ok(PerOutput { enriched: found.enriched?, realtime: found.realtime?, dead_letters: found.dead_letters? })
}

fn last_output(kafka: &KafkaArgs, output: Output, partition: i32) -> anyhow::Result<Option<(i64, u32)>> {
    let last = consumer::last_record_matching(kafka, output.topic(), partition, Duration::from_secs(15), |record| {
        record.provenance().is_some_and(|p| p.partition == partition)
    })?;
    Ok(last.and_then(|record| record.provenance()).map(|p| (p.offset, p.index)))
}
