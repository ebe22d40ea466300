//! tickflow lake-writer: Kafka topics to Hive-partitioned Parquet, exactly once per record.

mod batch;
mod writer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_kafka::consumer::{self, BaseConsumer, ConsumerTuning};
use tickflow_kafka::{KafkaArgs, Message, Offset};
use tickflow_lake::store::{latest_marker, missing_files, open_store, remove_local_leftovers};
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::startup::wait_for_topics;
use tickflow_service::{Service, ServiceArgs, run_service};

use crate::batch::{Added, Batch};
use crate::writer::LakeWriter;

const INPUTS: [&str; 3] = [ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS];

/// Writes enriched trades, candles, anomalies and dead letters to the Parquet lake.
#[derive(Debug, Parser)]
#[command(name = "lake-writer", version)]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    service: ServiceArgs,
    /// Address of the /metrics, /healthz and /readyz listener.
    #[arg(long, env = "LAKE_WRITER_HTTP_ADDR", default_value = "127.0.0.1:9103")]
    http_addr: SocketAddr,
    /// Consumer group whose committed offsets mirror the lake's progress.
    #[arg(long, env = "LAKE_WRITER_GROUP_ID", default_value = "tickflow-lake-writer")]
    group_id: String,
    /// The lake: a directory (or file:///abs/dir), s3://bucket/prefix (AWS_* variables set
    /// endpoint, region, credentials), or memory://.
    #[arg(long, env = "LAKE_URL", default_value = ".tickflow/lake")]
    lake_url: String,
    /// A batch is written at the latest this long after its first record.
    #[arg(long, env = "LAKE_FLUSH_INTERVAL_MS", default_value_t = 5_000)]
    flush_interval_ms: u64,
    /// A batch is written once it holds this many records.
    #[arg(long, env = "LAKE_MAX_RECORDS", default_value_t = 200_000)]
    max_records: u64,
    /// A batch is written once it holds this many bytes of records.
    #[arg(long, env = "LAKE_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_bytes: usize,
}

fn main() -> ExitCode {
    run_service(|args: &Args| &args.service, run)
}

fn run(args: Args) -> anyhow::Result<()> {
    args.kafka.validate()?;
    let store = open_store(&args.lake_url).with_context(|| format!("opening the lake at {}", args.lake_url))?;
    let leftovers = remove_local_leftovers(&args.lake_url).context("cleaning up temporary files")?;
    if leftovers > 0 {
        tracing::info!(leftovers, "removed temporary files of an interrupted run");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let Service { shutdown, metrics, readiness } = Service::start(args.http_addr)?;
    tracing::info!(kafka = args.kafka.describe(), lake = args.lake_url, "lake-writer starting");

    if !wait_for_topics(&args.kafka, &shutdown, &metrics)? {
        return Ok(()); // stopped before Kafka was up
    }
    let consumer = consumer::consumer(&args.kafka, &args.group_id, ConsumerTuning { fetch_wait_max_ms: 100 })?;
    let mut writer = LakeWriter::new(store, runtime, metrics.clone(), shutdown.clone());
    let mut batches = BTreeMap::new();
    let mut starts = Vec::new();
    for topic in INPUTS {
        let partitions: Vec<i32> = (0..consumer::partition_count(&consumer, topic, Duration::from_secs(15))?).collect();
        let committed = consumer::committed_offsets(&consumer, topic, &partitions, Duration::from_secs(15))?;
        for (partition, committed) in partitions.into_iter().zip(committed) {
            let (start, forced_last) = resume_point(&writer, topic, partition, committed)?;
            let next_offset = match start {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
            // The batch drops what lies before `next_offset`.
            starts.push((topic, partition, next_offset.map_or(start, Offset::Offset)));
            batches.insert((topic, partition), Batch::new(topic, partition, forced_last, next_offset));
        }
    }
    consumer::assign(&consumer, &starts)?;
    readiness.set(true);

    let records_in = INPUTS.map(|topic| metrics.counter_in(topic));
    let unroutable = metrics.rejection("lake-writer", "unroutable");
    let redelivered = ServiceMetrics::named(&metrics.events, "record_redelivered");
    let flush_after = Duration::from_millis(args.flush_interval_ms);
    while !shutdown.requested() {
        if let Some(result) = consumer.poll(Duration::from_millis(50)) {
            match result {
                Ok(message) => {
                    let topic = INPUTS.iter().copied().find(|t| *t == message.topic()).unwrap_or(ENRICHED_TRADES);
                    records_in[INPUTS.iter().position(|t| *t == topic).unwrap_or(0)].inc();
                    if let Some(batch) = batches.get_mut(&(topic, message.partition())) {
                        match batch.add(&message) {
                            Added::Routed => {}
                            Added::Unroutable => {
                                unroutable.inc();
                            }
                            Added::Redelivered => {
                                redelivered.inc();
                            }
                        }
                        if batch.forced_last == Some(batch.last_offset) {
                            flush(&mut writer, &consumer, batch)?;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "consumer error; retrying");
                    ServiceMetrics::named(&metrics.retries, "consume").inc();
                }
            }
        }
        for batch in batches.values_mut() {
            let due = batch.started.elapsed() >= flush_after
                || batch.groups.values().map(|g| g.records).sum::<u64>() >= args.max_records
                || batch.bytes >= args.max_bytes;
            if !batch.is_empty() && batch.forced_last.is_none() && due {
                flush(&mut writer, &consumer, batch)?;
            }
        }
    }
    for batch in batches.values_mut().filter(|b| !b.is_empty() && b.forced_last.is_none()) {
        flush(&mut writer, &consumer, batch)?;
    }
    tracing::info!("lake-writer stopped; every buffered record was written");
    Ok(())
}

/// Where a partition resumes: after the lake's latest complete batch, at the start of an
/// incomplete one (which must then end where its marker says), or at the committed offset
/// when the lake has no marker.
fn resume_point(
    writer: &LakeWriter,
    topic: &str,
    partition: i32,
    committed: Option<i64>,
) -> anyhow::Result<(Offset, Option<i64>)> {
    let marker = writer.runtime.block_on(latest_marker(writer.store.as_ref(), topic, partition))?;
    let Some(marker) = marker else {
        return Ok((committed.map_or(Offset::Beginning, Offset::Offset), None));
    };
    let missing = writer.runtime.block_on(missing_files(writer.store.as_ref(), &marker))?;
    if missing.is_empty() {
        Ok((Offset::Offset(marker.last_offset + 1), None))
    } else {
        tracing::info!(
            topic,
            partition,
            first = marker.first_offset,
            last = marker.last_offset,
            missing = missing.len(),
            "completing an interrupted batch"
        );
        Ok((Offset::Offset(marker.first_offset), Some(marker.last_offset)))
    }
}

fn flush(writer: &mut LakeWriter, consumer: &BaseConsumer, batch: &mut Batch) -> anyhow::Result<()> {
    writer.write(batch)?;
    consumer::commit(consumer, &[(batch.topic, batch.partition, batch.last_offset + 1)])?;
    writer.metrics.record_lag(consumer, batch.topic, batch.partition, batch.last_offset + 1);
    *batch = batch.next();
    Ok(())
}
