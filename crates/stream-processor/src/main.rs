//! The stream-processor binary: its command line and environment; the service is in `lib.rs`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use stream_processor::GroupSettings;
use tickflow_core::contract::topics::ALL_TOPICS;
use tickflow_core::processor::ProcessorConfig;
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::admin::wait_for_topics;
use tickflow_kafka::group::Membership;
use tickflow_service::startup::ReferenceArgs;
use tickflow_service::{Service, ServiceArgs, run_service};

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
    /// Consumer group whose members share raw_trades' partitions; its state is kept in the
    /// compacted topic `<group>-state`.
    #[arg(long, env = "PROCESSOR_GROUP_ID", default_value = "tickflow-stream-processor")]
    group_id: String,
    /// A stable name for this instance within the group (static membership): restarted within
    /// the session timeout, it gets its partitions back without moving the others'. A broker
    /// outage longer than the session timeout then stops it (fenced); without an id it rides
    /// such an outage out.
    #[arg(long, env = "PROCESSOR_INSTANCE_ID")]
    instance_id: Option<String>,
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
    /// How often a checkpoint of the state is taken; the previous one is saved and its offsets
    /// committed then, once its outputs are acknowledged.
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
    // Before librdkafka's threads start: its fetch buffers then never stay resident once freed.
    tickflow_service::memory::keep_large_blocks_out_of_the_arenas();
    let config = ProcessorConfig {
        windows_us: args.windows.clone(),
        allowed_lateness_us: args.allowed_lateness,
        idle_timeout_us: args.idle_timeout,
        max_hold_us: args.max_hold,
        ..ProcessorConfig::default()
    };
    config.check().context("invalid window settings")?;
    let reference = args.reference.load()?;
    let Service { shutdown, metrics, readiness } = Service::start(args.http_addr)?;
    tracing::info!(kafka = args.kafka.describe(), group = args.group_id, instance = ?args.instance_id, windows_us = ?config.windows_us, lateness_us = config.allowed_lateness_us, "stream-processor starting");

    if !wait_for_topics(&args.kafka, &ALL_TOPICS, &|| shutdown.requested(), |_| metrics.retried("ensure_topics"))? {
        return Ok(()); // stopped before Kafka was up
    }
    let group = GroupSettings {
        membership: Membership::new(&args.group_id, args.instance_id.clone()),
        commit_interval: Duration::from_micros(args.commit_interval.unsigned_abs()),
    };
    let member = stream_processor::join(&args.kafka, &group, config, reference, &metrics)?;
    stream_processor::run(member, group.commit_interval, &shutdown, &readiness)
}
