//! tickflow producer: venue frames in, `raw_trades` out.

mod feeds;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use clap::Parser;
use tickflow_core::contract::Venue;
use tickflow_core::contract::topics::ALL_TOPICS;
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::admin::wait_for_topics;
use tickflow_kafka::consumer;
use tickflow_kafka::producer::{OutputProducer, ProducerTuning};
use tickflow_service::startup::ReferenceArgs;
use tickflow_service::{Service, ServiceArgs, now_us, run_service};

use producer::capture::{self, Tap};
use producer::publish::Publisher;
use producer::resume::{self, ResumePoints};
use producer::sessions::VenueSessions;

use crate::feeds::{LiveArgs, SourceKind};

/// Normalizes venue trades to the trade contract and produces them to raw_trades.
#[derive(Debug, Parser)]
#[command(name = "producer", version)]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    service: ServiceArgs,
    /// Address of the /metrics, /healthz and /readyz listener.
    #[arg(long, env = "PRODUCER_HTTP_ADDR", default_value = "127.0.0.1:9101")]
    http_addr: SocketAddr,
    /// Where frames come from: one or more of synthetic, replay, binance, coinbase, finnhub (comma-separated).
    #[arg(long = "source", env = "PRODUCER_SOURCE", value_enum, value_delimiter = ',', default_value = "synthetic")]
    sources: Vec<SourceKind>,
    /// What `--source replay` plays: a JSON Lines file of frames, a capture file (.jsonl.zst) or
    /// a folder of capture files.
    #[arg(long, env = "PRODUCER_REPLAY_FILE")]
    replay_file: Option<PathBuf>,
    /// Replay at the recorded pace (the gaps between receive times) instead of `--rate`.
    #[arg(long, env = "PRODUCER_REPLAY_ORIGINAL_PACE")]
    replay_original_pace: bool,
    /// Record what the sources receive to zstd JSON Lines files in this folder: the live clients'
    /// every frame byte for byte with its receive time, REST answers and connection events.
    #[arg(long, env = "PRODUCER_CAPTURE_DIR")]
    capture_dir: Option<PathBuf>,
    /// Start a new capture file after this many (uncompressed) megabytes.
    #[arg(long, env = "PRODUCER_CAPTURE_ROTATE_MB", default_value_t = 256)]
    capture_rotate_mb: u64,
    /// Seed of the synthetic market.
    #[arg(long, env = "SYNTHETIC_SEED", default_value_t = 42)]
    seed: u64,
    /// Synthetic trades per second, or replayed frames per second, paced in real time; 0 sends
    /// as fast as possible.
    #[arg(long, env = "PRODUCER_RATE", default_value_t = 1_000.0)]
    rate: f64,
    /// How many of the last records of each `raw_trades` partition are read at start to find
    /// where the venue clients pick up (each symbol's last delivered trade); 0: start afresh.
    #[arg(long, env = "PRODUCER_RESUME_RECORDS", default_value_t = 20_000)]
    resume_records: i64,
    /// A venue whose last record in `raw_trades` is older than this many seconds starts afresh
    /// (a long stop is not backfilled trade by trade; the time is logged as not recovered).
    #[arg(long, env = "PRODUCER_RESUME_MAX_AGE_S", default_value_t = 900)]
    resume_max_age_s: i64,
    /// Stop after this many synthetic trades.
    #[arg(long, env = "SYNTHETIC_MAX_TRADES")]
    max_trades: Option<u64>,
    #[command(flatten)]
    reference: ReferenceArgs,
    #[command(flatten)]
    live: LiveArgs,
}

fn main() -> ExitCode {
    run_service(|args: &Args| &args.service, run)
}

fn run(args: Args) -> anyhow::Result<()> {
    args.kafka.validate()?;
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        anyhow::bail!("--rate must be a non-negative number of trades per second");
    }
    let reference = args.reference.load()?;
    feeds::validate(&args.sources, args.replay_file.as_deref(), &args.live, &reference)?;
    let Service { shutdown, metrics, readiness } = Service::start(args.http_addr)?;
    tracing::info!(kafka = args.kafka.describe(), sources = ?args.sources, "producer starting");

    if !wait_for_topics(&args.kafka, &ALL_TOPICS, &|| shutdown.requested(), |_| metrics.retried("ensure_topics"))? {
        return Ok(()); // stopped before Kafka was up
    }
    let probe = consumer::consumer(&args.kafka, "tickflow-producer", consumer::ConsumerTuning::default())?;
    let partitions = consumer::partition_count(&probe, RAW_TRADES, Duration::from_secs(15))?;
    let producer = OutputProducer::new(&args.kafka, ProducerTuning::default())?;
    let metrics_for_feeds = metrics.clone();
    let mut publisher = Publisher::new(producer, reference.clone(), metrics, partitions);
    publisher.release_at_start(&Venue::ALL)?;

    let (frames_tx, frames) = sync_channel(16_384);
    let (tap, capture_writer) = match &args.capture_dir {
        Some(directory) => {
            let (tap, writer) = capture::spawn(directory, args.capture_rotate_mb.saturating_mul(1 << 20))?;
            (tap, Some(writer))
        }
        None => (Tap::none(), None),
    };
    let resume = if feeds::has_live_feeds(&args.sources) && args.resume_records > 0 {
        let mut points = resume::read(&args.kafka, partitions, args.resume_records)?;
        for (venue, away_since_us) in
            points.forget_older_than(now_us() - args.resume_max_age_s.saturating_mul(1_000_000))
        {
            tracing::warn!(
                venue = venue.as_str(),
                away_since_us,
                max_age_s = args.resume_max_age_s,
                "the venue's last trades in raw_trades are too old to resume from: its trades since are not recovered"
            );
        }
        tracing::info!(symbols = points.symbols(), "venue clients resume after the last trades in raw_trades");
        points
    } else {
        ResumePoints::default()
    };
    let sources = feeds::start(&feeds::SourcePlan {
        kinds: &args.sources,
        replay_file: args.replay_file.as_deref(),
        seed: args.seed,
        rate: args.rate,
        original_pace: args.replay_original_pace,
        max_trades: args.max_trades,
        live: &args.live,
        reference: &reference,
        metrics: &metrics_for_feeds,
        frames: frames_tx,
        tap,
        shutdown: &shutdown,
        resume: &resume,
    })?;
    let mut sessions =
        VenueSessions::new(&reference, &feeds::followed(&args.sources, &args.live, &reference), &metrics_for_feeds);
    sessions.update(now_us());
    readiness.set(true);

    let mut last_flush = Instant::now();
    let mut stopping_since = None;
    loop {
        if shutdown.requested() {
            // Take what the sources still report as they stop (a client's open gaps), briefly.
            if stopping_since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(10) {
                tracing::warn!("a source did not stop within 10 s; stopping without it");
                break;
            }
        }
        match frames.recv_timeout(Duration::from_millis(100)) {
            Ok(received) => publisher.publish(&received)?,
            Err(RecvTimeoutError::Timeout) if shutdown.requested() => {}
            Err(RecvTimeoutError::Timeout) => publisher.watermark_if_quiet(Duration::from_secs(1))?,
            Err(RecvTimeoutError::Disconnected) => {
                if !shutdown.requested() {
                    // The sources are done: nothing older will come.
                    publisher.watermark_at_end()?;
                }
                break;
            }
        }
        if last_flush.elapsed() > Duration::from_secs(1) {
            if !shutdown.requested() {
                publisher.watermark_if_quiet(Duration::from_secs(1))?; // venues quiet while others trade
            }
            publisher.flush(Duration::from_secs(60))?;
            sessions.update(now_us());
            last_flush = Instant::now();
        }
    }
    drop(frames);
    for source in sources {
        let _ = source.join();
    }
    publisher.flush(Duration::from_secs(60))?;
    if let Some(writer) = capture_writer {
        // Every source has ended, so every tap is dropped and the writer completes its file.
        match writer.join() {
            Ok(written) => written.map_err(|e| anyhow::anyhow!("cannot write the capture: {e}"))?,
            Err(_) => anyhow::bail!("the capture writer failed"),
        }
    }
    tracing::info!("producer stopped; every record was acknowledged");
    Ok(())
}
