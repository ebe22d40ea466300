//! tickflow stream-processor: `raw_trades` in; `enriched_trades`, `realtime_metrics` and
//! `dead_letters` out. At least once in, exactly once out: see `worker.rs` and ARCHITECTURE.md.

mod snapshots;
mod worker;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tickflow_core::contract::Venue;
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_kafka::consumer::{self, BaseConsumer, ConsumerTuning};
use tickflow_kafka::headers::{Provenance, RecordKind, record_kind};
use tickflow_kafka::producer::{OutputProducer, ProducerTuning};
use tickflow_kafka::{KafkaArgs, Message, Offset};
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::startup::{ReferenceArgs, wait_for_topics};
use tickflow_service::{Service, ServiceArgs, now_us, run_service};

use crate::snapshots::{PartitionSnapshot, SnapshotStore};
use crate::worker::{Input, OUTPUTS, PartitionWorker, WorkerMetrics};

/// Validates, deduplicates and enriches raw trades and computes candles and anomalies.
#[derive(Debug, Parser)]
#[command(name = "stream-processor", version)]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    reference: ReferenceArgs,
    /// Address of the /metrics, /healthz and /readyz listener.
    #[arg(long, env = "PROCESSOR_HTTP_ADDR", default_value = "127.0.0.1:9102")]
    http_addr: SocketAddr,
    /// Consumer group whose committed offsets record progress.
    #[arg(long, env = "PROCESSOR_GROUP_ID", default_value = "tickflow-stream-processor")]
    group_id: String,
    /// Where each partition's state snapshot is kept between runs.
    #[arg(long, env = "PROCESSOR_STATE_DIR", default_value = ".tickflow/state/stream-processor")]
    state_dir: PathBuf,
    /// raw_trades partitions this instance owns (comma-separated); all by default.
    #[arg(long, env = "PROCESSOR_PARTITIONS", value_delimiter = ',')]
    partitions: Vec<i32>,
    /// Window lengths, e.g. `1s,1m,5m`.
    #[arg(long, env = "PROCESSOR_WINDOWS", value_delimiter = ',', default_value = "1s,1m", value_parser = parse_duration_us)]
    windows: Vec<i64>,
    /// How long after a window's end late trades may still revise it.
    #[arg(long, env = "PROCESSOR_ALLOWED_LATENESS", default_value = "2s", value_parser = parse_duration_us)]
    allowed_lateness: i64,
    /// How far a quiet instrument may trail the stream (its other instruments, or the producer's
    /// watermarks) before the stream closes its windows.
    #[arg(long, env = "PROCESSOR_IDLE_TIMEOUT", default_value = "5s", value_parser = parse_duration_us)]
    idle_timeout: i64,
    /// How far the stream may run ahead (in event time) of a venue's feed that is held
    /// (disconnected or recovering) before the feed is declared lost and its windows close
    /// without it; its trades that arrive later are kept, marked late.
    #[arg(long, env = "PROCESSOR_MAX_HOLD", default_value = "2m", value_parser = parse_duration_us)]
    max_hold: i64,
    /// How often outputs are flushed, state saved and offsets committed.
    #[arg(long, env = "PROCESSOR_COMMIT_INTERVAL", default_value = "1s", value_parser = parse_duration_us)]
    commit_interval: i64,
}

/// `500ms`, `2s`, `1m`, `1h` to microseconds.
fn parse_duration_us(text: &str) -> Result<i64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 500ms, 2s or 1m"))?;
    let scale = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        _ => return Err(format!("{text:?} is not a duration like 500ms, 2s or 1m")),
    };
    Ok(number * scale)
}

fn main() -> ExitCode {
    run_service(|args: &Args| &args.service, run)
}

fn run(args: Args) -> anyhow::Result<()> {
    args.kafka.validate()?;
    let config = ProcessorConfig {
        windows_us: args.windows.clone(),
        allowed_lateness_us: args.allowed_lateness,
        idle_timeout_us: args.idle_timeout,
        max_hold_us: args.max_hold,
        ..ProcessorConfig::default()
    };
    config.check().context("invalid window settings")?;
    let reference = args.reference.load()?;
    let store = SnapshotStore::open(&args.state_dir)?;
    let Service { shutdown, metrics: service_metrics, readiness } = Service::start(args.http_addr)?;
    tracing::info!(kafka = args.kafka.describe(), windows_us = ?config.windows_us, lateness_us = config.allowed_lateness_us, state_dir = %args.state_dir.display(), "stream-processor starting");

    if !wait_for_topics(&args.kafka, &shutdown, &service_metrics)? {
        return Ok(()); // stopped before Kafka was up
    }
    let consumer = consumer::consumer(&args.kafka, &args.group_id, ConsumerTuning::default())?;
    let producer = OutputProducer::new(&args.kafka, ProducerTuning::default())?;
    let timeout = Duration::from_secs(15);
    let input_partitions = consumer::partition_count(&consumer, RAW_TRADES, timeout)?;
    for topic in OUTPUTS {
        if consumer::partition_count(&consumer, topic, timeout)? < input_partitions {
            bail!("{topic} has fewer partitions than {RAW_TRADES}; outputs go to the input's partition number");
        }
    }
    let partitions: Vec<i32> =
        if args.partitions.is_empty() { (0..input_partitions).collect() } else { args.partitions.clone() };
    if let Some(p) = partitions.iter().find(|p| !(0..input_partitions).contains(*p)) {
        bail!("{RAW_TRADES} has no partition {p}");
    }

    let committed = consumer::committed_offsets(&consumer, RAW_TRADES, &partitions, timeout)?;
    let mut workers = BTreeMap::new();
    let mut starts = Vec::new();
    for (&partition, committed) in partitions.iter().zip(committed) {
        let (worker, start) = restore(&args, partition, committed, &config, &reference, &store, &service_metrics)?;
        starts.push((RAW_TRADES, partition, start));
        workers.insert(partition, worker);
    }
    consumer::assign(&consumer, &starts)?;
    readiness.set(true);

    let counters = WorkerMetrics::new(&service_metrics);
    let mut last_commit = Instant::now();
    let commit_every = Duration::from_micros(args.commit_interval.unsigned_abs());
    while !shutdown.requested() {
        match consumer.poll(Duration::from_millis(20)) {
            Some(Ok(message)) => {
                let Some(worker) = workers.get_mut(&message.partition()) else { continue };
                let payload = message.payload().unwrap_or_default();
                let key = message.key().unwrap_or_default();
                let input = match record_kind(message.headers()) {
                    RecordKind::Trade => Input::Trade { key, payload },
                    RecordKind::Watermark => Input::Watermark { payload },
                    RecordKind::FeedGap => Input::FeedGap { key, payload },
                    RecordKind::Unknown => Input::Unknown { key, payload },
                };
                worker.handle(message.offset(), input, &producer, &counters, now_us())?;
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "consumer error; retrying");
                ServiceMetrics::named(&service_metrics.retries, "consume").inc();
            }
            None => {}
        }
        producer.poll();
        if last_commit.elapsed() >= commit_every {
            commit(&consumer, &producer, &store, &mut workers)?;
            for worker in workers.values() {
                if let Some(next) = worker.next_offset {
                    service_metrics.record_lag(&consumer, RAW_TRADES, worker.partition, next);
                }
            }
            record_holds(&service_metrics, &workers);
            last_commit = Instant::now();
        }
    }
    commit(&consumer, &producer, &store, &mut workers)?;
    tracing::info!("stream-processor stopped after a final commit");
    Ok(())
}

/// Sets the held-source gauges: a venue is held while any partition's processor holds it.
fn record_holds(metrics: &ServiceMetrics, workers: &BTreeMap<i32, PartitionWorker>) {
    for venue in Venue::ALL {
        let mut ahead_s: Option<f64> = None;
        for worker in workers.values() {
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

/// A partition's worker and where it resumes: from its state snapshot when there is one,
/// otherwise from the committed offset with empty state.
fn restore(
    args: &Args,
    partition: i32,
    committed: Option<i64>,
    config: &ProcessorConfig,
    reference: &ReferenceData,
    store: &SnapshotStore,
    metrics: &ServiceMetrics,
) -> anyhow::Result<(PartitionWorker, Offset)> {
    let snapshot = store.load(RAW_TRADES, partition);
    let (processor, start) = match snapshot {
        Some(PartitionSnapshot { next_offset, processor, .. }) => {
            match StreamProcessor::restore(config.clone(), reference.clone(), processor) {
                Ok(restored) => {
                    ServiceMetrics::named(&metrics.events, "state_restored").inc();
                    (restored, Some(next_offset))
                }
                Err(error) => {
                    tracing::warn!(partition, %error, "state snapshot not usable; starting with empty state");
                    (StreamProcessor::new(config.clone(), reference.clone())?, committed)
                }
            }
        }
        None => {
            if committed.is_some() {
                tracing::warn!(partition, "no state snapshot; windows open at the last stop start empty");
            }
            (StreamProcessor::new(config.clone(), reference.clone())?, committed)
        }
    };
    // The last output of this partition in each output topic, read in parallel.
    let last_outputs: Vec<anyhow::Result<Option<(i64, u32)>>> = std::thread::scope(|scope| {
        let probes: Vec<_> = OUTPUTS
            .map(|topic| {
                scope.spawn(move || {
                    let read_back = || {
                        consumer::last_record_matching(&args.kafka, topic, partition, Duration::from_secs(15), |m| {
                            Provenance::from_headers(m.headers()).is_some_and(|p| p.partition == partition)
                        })
                    };
                    // A slow broker is worth waiting for: a restart must not need a manual step.
                    let mut last = read_back();
                    for _ in 0..3 {
                        match &last {
                            Err(error) if error.is_transient() => {
                                tracing::warn!(topic, partition, %error, "reading back the last output again");
                                last = read_back();
                            }
                            _ => break,
                        }
                    }
                    Ok(last?.and_then(|m| Provenance::from_headers(m.headers())).map(|p| (p.offset, p.index)))
                })
            })
            .into_iter()
            .collect();
        probes
            .into_iter()
            .map(|probe| probe.join().unwrap_or_else(|_| Err(anyhow::anyhow!("probe thread failed"))))
            .collect()
    });
    let mut written = [None; 3];
    for (slot, last) in written.iter_mut().zip(last_outputs) {
        *slot = last?;
    }
    tracing::info!(partition, start = ?start, already_written = ?written, "partition restored");
    // The worker drops what lies before `start`.
    let offset = start.map_or(Offset::Beginning, Offset::Offset);
    Ok((PartitionWorker::new(partition, processor, start, written), offset))
}

/// Waits for every output to be acknowledged, saves each changed partition's state, then
/// commits the offsets: a crash anywhere in between repeats work but loses nothing.
fn commit(
    consumer: &BaseConsumer,
    producer: &OutputProducer,
    store: &SnapshotStore,
    workers: &mut BTreeMap<i32, PartitionWorker>,
) -> anyhow::Result<()> {
    producer
        .flush(Duration::from_secs(120))
        .context("outputs were not acknowledged; stopping so a restart replays them")?;
    let mut offsets = Vec::new();
    for worker in workers.values_mut().filter(|w| w.dirty) {
        let Some(next_offset) = worker.next_offset else { continue };
        store.save(&PartitionSnapshot {
            topic: RAW_TRADES.to_owned(),
            partition: worker.partition,
            next_offset,
            processor: worker.processor().snapshot(),
        })?;
        offsets.push((RAW_TRADES, worker.partition, next_offset));
        worker.dirty = false;
    }
    consumer::commit(consumer, &offsets)?;
    Ok(())
}
