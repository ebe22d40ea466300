//! tickflow producer: venue frames in, `raw_trades` out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use clap::Parser;
use tickflow_core::contract::Venue;
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_core::feed::Backoff;
use tickflow_core::reference::ReferenceData;
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::consumer;
use tickflow_kafka::producer::{OutputProducer, ProducerTuning};
use tickflow_service::startup::{ReferenceArgs, wait_for_topics};
use tickflow_service::{Service, ServiceArgs, run_service};

use producer::live::{self, FeedCounters, LiveOptions, binance};
use producer::publish::Publisher;
use producer::source::{ReplaySource, SyntheticSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SourceKind {
    /// The seeded synthetic market.
    Synthetic,
    /// Frames recorded in a JSON Lines file (`--replay-file`).
    Replay,
    /// Binance's live trade streams (`--binance-ws-url`, `--binance-rest-url`, `--binance-symbols`).
    Binance,
}

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
    /// Where frames come from.
    #[arg(long, env = "PRODUCER_SOURCE", value_enum, default_value_t = SourceKind::Synthetic)]
    source: SourceKind,
    /// The JSON Lines file of frames for `--source replay`.
    #[arg(long, env = "PRODUCER_REPLAY_FILE", required_if_eq("source", "replay"))]
    replay_file: Option<PathBuf>,
    /// Seed of the synthetic market.
    #[arg(long, env = "SYNTHETIC_SEED", default_value_t = 42)]
    seed: u64,
    /// Synthetic trades per second, or replayed frames per second, paced in real time; 0 sends
    /// as fast as possible.
    #[arg(long, env = "PRODUCER_RATE", default_value_t = 1_000.0)]
    rate: f64,
    /// Stop after this many synthetic trades.
    #[arg(long, env = "SYNTHETIC_MAX_TRADES")]
    max_trades: Option<u64>,
    #[command(flatten)]
    reference: ReferenceArgs,
    #[command(flatten)]
    live: LiveArgs,
}

/// Settings of the live venue clients.
#[derive(Debug, clap::Args)]
struct LiveArgs {
    /// Binance WebSocket base URL (`wss://stream.binance.us:9443` from the US).
    #[arg(long, env = "BINANCE_WS_URL", default_value = binance::DEFAULT_WS_URL)]
    binance_ws_url: String,
    /// Binance REST base URL, for backfilling missed trades (`https://api.binance.us` from the US).
    #[arg(long, env = "BINANCE_REST_URL", default_value = binance::DEFAULT_REST_URL)]
    binance_rest_url: String,
    /// Binance symbols, comma-separated (default: every Binance instrument of the reference data).
    #[arg(long, env = "BINANCE_SYMBOLS", value_delimiter = ',')]
    binance_symbols: Vec<String>,
    /// Reconnect after this long without any frame (about three heartbeat periods).
    #[arg(long, env = "FEED_WATCHDOG_MS", default_value_t = 60_000)]
    feed_watchdog_ms: u64,
    /// Frames larger than this are refused (the connection is reopened).
    #[arg(long, env = "FEED_MAX_FRAME_BYTES", default_value_t = 1 << 20)]
    feed_max_frame_bytes: usize,
    /// Longest wait between reconnection attempts (capped exponential backoff with full jitter from 250 ms).
    #[arg(long, env = "FEED_BACKOFF_MAX_MS", default_value_t = 30_000)]
    feed_backoff_max_ms: u64,
}

impl LiveArgs {
    fn options(&self) -> LiveOptions {
        LiveOptions {
            watchdog: Duration::from_millis(self.feed_watchdog_ms),
            backoff: Backoff { base: Duration::from_millis(250), cap: Duration::from_millis(self.feed_backoff_max_ms) },
            max_frame_bytes: self.feed_max_frame_bytes,
            max_connection_age: Duration::from_secs(23 * 3600 + 50 * 60),
        }
    }
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
    let Service { shutdown, metrics, readiness } = Service::start(args.http_addr)?;
    tracing::info!(kafka = args.kafka.describe(), source = ?args.source, "producer starting");

    wait_for_topics(&args.kafka, &shutdown, &metrics)?;
    let probe = consumer::consumer(&args.kafka, "tickflow-producer", consumer::ConsumerTuning::default())?;
    let partitions = consumer::partition_count(&probe, RAW_TRADES, Duration::from_secs(15))?;
    let producer = OutputProducer::new(&args.kafka, ProducerTuning::default())?;
    let metrics_for_feeds = metrics.clone();
    let mut publisher = Publisher::new(producer, reference.clone(), metrics, partitions);

    let (frames_tx, frames) = sync_channel(16_384);
    let source_shutdown = shutdown.clone();
    let sources = match args.source {
        SourceKind::Synthetic => {
            let synthetic = SyntheticSource { seed: args.seed, rate: args.rate, max_trades: args.max_trades };
            vec![std::thread::spawn(move || synthetic.run(reference, frames_tx, source_shutdown))]
        }
        SourceKind::Replay => {
            let replay =
                ReplaySource::open(args.replay_file.as_deref().unwrap_or(std::path::Path::new("")), args.rate)?;
            vec![std::thread::spawn(move || replay.run(frames_tx, source_shutdown))]
        }
        SourceKind::Binance => {
            let symbols = if args.live.binance_symbols.is_empty() {
                venue_symbols(&reference, Venue::Binance)
            } else {
                args.live.binance_symbols.clone()
            };
            let counters = FeedCounters::new(&metrics_for_feeds, "binance");
            symbols
                .chunks(binance::STREAMS_PER_CONNECTION)
                .map(|chunk| {
                    let client = binance::Binance::new(
                        &args.live.binance_ws_url,
                        &args.live.binance_rest_url,
                        chunk.to_vec(),
                        counters.clone(),
                    );
                    let (options, frames, shutdown, counters) =
                        (args.live.options(), frames_tx.clone(), source_shutdown.clone(), counters.clone());
                    std::thread::spawn(move || live::run(client, options, frames, shutdown, counters))
                })
                .collect()
        }
    };
    readiness.set(true);

    let mut last_flush = Instant::now();
    loop {
        match frames.recv_timeout(Duration::from_millis(100)) {
            Ok(frame) => publisher.publish(&frame)?,
            Err(RecvTimeoutError::Timeout) if shutdown.requested() => break,
            Err(RecvTimeoutError::Timeout) => publisher.watermark_if_quiet(Duration::from_secs(1))?,
            Err(RecvTimeoutError::Disconnected) => {
                // The source is done: nothing older will come.
                publisher.watermark_at_end()?;
                break;
            }
        }
        if last_flush.elapsed() > Duration::from_secs(1) {
            publisher.flush(Duration::from_secs(60))?;
            last_flush = Instant::now();
        }
    }
    for source in sources {
        let _ = source.join();
    }
    publisher.flush(Duration::from_secs(60))?;
    tracing::info!("producer stopped; every record was acknowledged");
    Ok(())
}

/// Every symbol `venue` has in the reference data.
fn venue_symbols(reference: &ReferenceData, venue: Venue) -> Vec<String> {
    reference
        .instruments()
        .iter()
        .flat_map(|i| i.venue_symbols.iter())
        .filter(|(v, _)| *v == venue)
        .map(|(_, symbol)| symbol.to_string())
        .collect()
}
