//! The lake-writer binary: its command line and environment; the service is in `lib.rs`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lake_writer::policy::FlushPolicy;
use lake_writer::writer::LakeWriter;
use tickflow_core::contract::topics::ALL_TOPICS;
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::admin::wait_for_topics;
use tickflow_kafka::group::Membership;
use tickflow_lake::store::{open_store, remove_local_leftovers};
use tickflow_service::{Service, ServiceArgs, run_service};

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
    /// Consumer group whose members share the input topics' partitions; its committed offsets
    /// mirror the lake's progress (the lake's markers are authoritative).
    #[arg(long, env = "LAKE_WRITER_GROUP_ID", default_value = "tickflow-lake-writer")]
    group_id: String,
    /// A stable name for this instance within the group (static membership): restarted within
    /// the session timeout, it gets its partitions back without moving the others'. A broker
    /// outage longer than the session timeout then stops it (fenced); without an id it rides
    /// such an outage out.
    #[arg(long, env = "LAKE_WRITER_INSTANCE_ID")]
    instance_id: Option<String>,
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
    let Service { shutdown, metrics, readiness } = Service::start(args.http_addr)?;
    tracing::info!(kafka = args.kafka.describe(), group = args.group_id, instance = ?args.instance_id, lake = args.lake_url, "lake-writer starting");

    if !wait_for_topics(&args.kafka, &ALL_TOPICS, &|| shutdown.requested(), |_| metrics.retried("ensure_topics"))? {
        return Ok(()); // stopped before Kafka was up
    }
    let policy = FlushPolicy {
        interval: Duration::from_millis(args.flush_interval_ms),
        max_records: args.max_records,
        max_bytes: args.max_bytes,
    };
    let writer = LakeWriter::new(store, metrics.clone(), shutdown.clone())?;
    let membership = Membership::new(&args.group_id, args.instance_id.clone());
    let member = lake_writer::join(&args.kafka, &membership, writer, policy)?;
    lake_writer::run(member, &shutdown, &readiness)
}
