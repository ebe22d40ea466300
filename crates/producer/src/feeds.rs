//! Which sources feed the producer, and their settings: several can run at once (the live
//! clients as tasks of one runtime, the others on threads), all sending frames into one channel.

use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Duration;

use producer::capture::{Tap, VenueEvent};
use producer::live::{self, ClientOutput, FeedCounters, LiveOptions, Protocol, Trust, binance, coinbase, finnhub};
use producer::resume::ResumePoints;
use producer::source::{Pace, Received, ReplaySource, SyntheticSource};
use tickflow_core::contract::Venue;
use tickflow_core::feed::Backoff;
use tickflow_core::reference::ReferenceData;
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::shutdown::Shutdown;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    /// The seeded synthetic market.
    Synthetic,
    /// Frames recorded in a JSON Lines file (`--replay-file`).
    Replay,
    /// Binance's live trade streams (`--binance-ws-url`, `--binance-rest-url`, `--binance-symbols`).
    Binance,
    /// Coinbase Advanced Trade's `market_trades` (`--coinbase-ws-url`, `--coinbase-products`).
    Coinbase,
    /// Finnhub's trade feed (`FINNHUB_API_KEY`, `--finnhub-ws-url`, `--finnhub-symbols`).
    Finnhub,
}

/// Settings of the live venue clients.
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// Binance WebSocket base URL (`wss://stream.binance.us:9443` from the US).
    #[arg(long, env = "BINANCE_WS_URL", default_value = binance::DEFAULT_WS_URL)]
    binance_ws_url: String,
    /// Binance REST base URL, for backfilling missed trades (`https://api.binance.us` from the US).
    #[arg(long, env = "BINANCE_REST_URL", default_value = binance::DEFAULT_REST_URL)]
    binance_rest_url: String,
    /// Binance symbols, comma-separated (default: every Binance instrument of the reference data).
    #[arg(long, env = "BINANCE_SYMBOLS", value_delimiter = ',')]
    binance_symbols: Vec<String>,
    /// Binance API key, sent as `X-MBX-APIKEY` with backfill requests, for hosts that want one
    /// (api.binance.com does not since 2023-07-11). From the environment; never logged.
    #[arg(long, env = "BINANCE_API_KEY", hide_env_values = true, default_value = "", hide_default_value = true)]
    binance_api_key: String,
    /// Milliseconds one backfill request may spend waiting for rate limits (429/418 with
    /// Retry-After) and outages (5xx) before its trades are reported as a backfill_failed gap.
    #[arg(long, env = "BINANCE_BACKFILL_BUDGET_MS", default_value_t = 30_000)]
    binance_backfill_budget_ms: u64,
    /// Coinbase Advanced Trade WebSocket URL.
    #[arg(long, env = "COINBASE_WS_URL", default_value = coinbase::DEFAULT_WS_URL)]
    coinbase_ws_url: String,
    /// Coinbase products, comma-separated (default: every Coinbase instrument of the reference data).
    #[arg(long, env = "COINBASE_PRODUCTS", value_delimiter = ',')]
    coinbase_products: Vec<String>,
    /// Finnhub API key (from the environment; never logged).
    #[arg(long, env = "FINNHUB_API_KEY", hide_env_values = true, default_value = "", hide_default_value = true)]
    finnhub_api_key: String,
    /// Finnhub WebSocket URL.
    #[arg(long, env = "FINNHUB_WS_URL", default_value = finnhub::DEFAULT_WS_URL)]
    finnhub_ws_url: String,
    /// Finnhub symbols, comma-separated, at most 50 (default: every instrument of the reference
    /// data that no exchange feed covers, i.e. the equities).
    #[arg(long, env = "FINNHUB_SYMBOLS", value_delimiter = ',')]
    finnhub_symbols: Vec<String>,
    /// Reconnect after this many milliseconds without any frame, for every venue (default: each
    /// venue's own, about three of its heartbeat or ping periods: Binance 60 s, Coinbase 3 s,
    /// Finnhub 180 s).
    #[arg(long, env = "FEED_WATCHDOG_MS")]
    feed_watchdog_ms: Option<u64>,
    /// Frames larger than this are refused (the connection is reopened).
    #[arg(long, env = "FEED_MAX_FRAME_BYTES", default_value_t = 1 << 20)]
    feed_max_frame_bytes: usize,
    /// Longest wait between reconnection attempts (capped exponential backoff with full jitter from 250 ms).
    #[arg(long, env = "FEED_BACKOFF_MAX_MS", default_value_t = 30_000)]
    feed_backoff_max_ms: u64,
    /// Trust the certificates of this PEM file instead of the public web roots, for the venues'
    /// WebSocket and REST connections (a TLS-inspecting proxy; the simulator with --tls).
    #[arg(long, env = "FEED_CA_FILE")]
    feed_ca_file: Option<PathBuf>,
}

impl LiveArgs {
    fn options(&self) -> anyhow::Result<LiveOptions> {
        Ok(LiveOptions {
            watchdog: self.feed_watchdog_ms.map(Duration::from_millis),
            backoff: Backoff { base: Duration::from_millis(250), cap: Duration::from_millis(self.feed_backoff_max_ms) },
            max_frame_bytes: self.feed_max_frame_bytes,
            max_connection_age: Duration::from_secs(23 * 3600 + 50 * 60),
            trust: match &self.feed_ca_file {
                Some(path) => Trust::ca_file(path)?,
                None => Trust::public(),
            },
        })
    }
}

/// Everything the sources need.
pub struct SourcePlan<'a> {
    pub kinds: &'a [SourceKind],
    pub replay_file: Option<&'a Path>,
    pub seed: u64,
    pub rate: f64,
    pub original_pace: bool,
    pub max_trades: Option<u64>,
    pub live: &'a LiveArgs,
    pub reference: &'a ReferenceData,
    pub metrics: &'a ServiceMetrics,
    pub frames: SyncSender<Received>,
    /// Where the sources record what they receive (the capture), if anywhere.
    pub tap: Tap,
    pub shutdown: &'a Shutdown,
    /// Where the venue clients pick up (the previous run's last trades in `raw_trades`).
    pub resume: &'a ResumePoints,
}

/// Checks every setting the sources need, before anything waits for Kafka: a mistake in them
/// is reported at once, with the flag or variable that fixes it.
pub fn validate(
    kinds: &[SourceKind],
    replay_file: Option<&Path>,
    live: &LiveArgs,
    reference: &ReferenceData,
) -> anyhow::Result<()> {
    live.options()?;
    for kind in kinds {
        match kind {
            SourceKind::Replay => {
                let path = replay_file.ok_or_else(|| anyhow::anyhow!("--source replay needs --replay-file"))?;
                std::fs::metadata(path).map_err(|e| anyhow::anyhow!("--replay-file {}: {e}", path.display()))?;
            }
            SourceKind::Finnhub => {
                if live.finnhub_api_key.is_empty() {
                    anyhow::bail!("--source finnhub needs an API key in FINNHUB_API_KEY");
                }
                let symbols = chosen(&live.finnhub_symbols, reference, Venue::Finnhub);
                if symbols.len() > finnhub::MAX_SYMBOLS_PER_KEY {
                    anyhow::bail!(
                        "Finnhub allows about {} symbols per API key; {} were asked for (--finnhub-symbols)",
                        finnhub::MAX_SYMBOLS_PER_KEY,
                        symbols.len()
                    );
                }
            }
            SourceKind::Synthetic | SourceKind::Binance | SourceKind::Coinbase => {}
        }
    }
    Ok(())
}

/// A live client's connection loop, to run on the venue runtime.
type Client = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Starts every source of the plan: the file and synthetic sources on threads of their own, every
/// live client's connections as tasks of one runtime on one more thread. The channel closes when
/// all of them have ended.
pub fn start(plan: &SourcePlan<'_>) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut threads = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let options = plan.live.options()?;
    for kind in plan.kinds {
        let (frames, shutdown) = (plan.frames.clone(), plan.shutdown.clone());
        match kind {
            SourceKind::Synthetic => {
                let (seed, rate, max_trades, tap) = (plan.seed, plan.rate, plan.max_trades, plan.tap.clone());
                let synthetic = SyntheticSource { seed, rate, max_trades, tap };
                let reference = plan.reference.clone();
                threads.push(std::thread::spawn(move || synthetic.run(reference, frames, shutdown)));
            }
            SourceKind::Replay => {
                let path = plan.replay_file.ok_or_else(|| anyhow::anyhow!("--source replay needs --replay-file"))?;
                let pace = if plan.original_pace { Pace::Original } else { Pace::Rate(plan.rate) };
                let replay =
                    ReplaySource::open(path, pace)?.with_tap(plan.tap.clone()).with_metrics(plan.metrics.clone());
                let reference = plan.reference.clone();
                threads.push(std::thread::spawn(move || replay.run(reference, frames, shutdown)));
            }
            SourceKind::Binance => {
                let symbols = chosen(&plan.live.binance_symbols, plan.reference, Venue::Binance);
                let counters = FeedCounters::new(plan.metrics, "binance");
                for (number, chunk) in (0u32..).zip(symbols.chunks(binance::STREAMS_PER_CONNECTION)) {
                    let live = plan.live;
                    let client = binance::Binance::new(
                        &live.binance_ws_url,
                        &live.binance_rest_url,
                        chunk.to_vec(),
                        &options.trust,
                        counters.clone(),
                    )
                    .with_api_key(finnhub::ApiKey::new(live.binance_api_key.clone()))
                    .with_backfill_budget(Duration::from_millis(live.binance_backfill_budget_ms));
                    let out = ClientOutput::new(Venue::Binance, plan.reference, frames.clone())
                        .recording(number, plan.tap.clone());
                    let client = resumed(client, plan.resume, &out);
                    let (options, shutdown, counters) = (options.clone(), shutdown.clone(), counters.clone());
                    clients.push(Box::pin(live::run_recorded(client, options, out, shutdown, counters)));
                }
            }
            SourceKind::Coinbase => {
                let products = chosen(&plan.live.coinbase_products, plan.reference, Venue::Coinbase);
                let counters = FeedCounters::new(plan.metrics, "coinbase");
                let client = coinbase::Coinbase::new(&plan.live.coinbase_ws_url, products, counters.clone());
                let (options, out) = (
                    options.clone(),
                    ClientOutput::new(Venue::Coinbase, plan.reference, frames).recording(0, plan.tap.clone()),
                );
                let client = resumed(client, plan.resume, &out);
                clients.push(Box::pin(live::run_recorded(client, options, out, shutdown, counters)));
            }
            SourceKind::Finnhub => {
                if plan.live.finnhub_api_key.is_empty() {
                    anyhow::bail!("--source finnhub needs an API key in FINNHUB_API_KEY");
                }
                let symbols = chosen(&plan.live.finnhub_symbols, plan.reference, Venue::Finnhub);
                let counters = FeedCounters::new(plan.metrics, "finnhub");
                let key = finnhub::ApiKey::new(plan.live.finnhub_api_key.clone());
                let client = finnhub::Finnhub::new(&plan.live.finnhub_ws_url, key, symbols, counters.clone())?;
                let (options, out) = (
                    options.clone(),
                    ClientOutput::new(Venue::Finnhub, plan.reference, frames).recording(0, plan.tap.clone()),
                );
                let client = resumed(client, plan.resume, &out);
                clients.push(Box::pin(live::run_recorded(client, options, out, shutdown, counters)));
            }
        }
    }
    if !clients.is_empty() {
        let runtime = live::venue_runtime()?;
        threads.push(std::thread::Builder::new().name("venue-clients".into()).spawn(move || {
            runtime.block_on(async {
                let running: Vec<_> = clients.into_iter().map(tokio::spawn).collect();
                for client in running {
                    let _ = client.await;
                }
            });
        })?);
    }
    Ok(threads)
}

/// `client`, told where the previous run left its venue's feed (if it left anything); recorded
/// through `out`, so a replay of the capture resumes its client alike.
fn resumed<P: Protocol>(mut client: P, points: &ResumePoints, out: &ClientOutput) -> P {
    if let Some(from) = points.venue(client.venue()) {
        out.at(tickflow_service::now_us());
        out.record(|| VenueEvent::Resumed { from: from.clone() });
        client.resume(from);
    }
    client
}

/// Whether any of `kinds` is a live venue feed (whose clients resume where a previous run left).
pub fn has_live_feeds(kinds: &[SourceKind]) -> bool {
    kinds.iter().any(|k| matches!(k, SourceKind::Binance | SourceKind::Coinbase | SourceKind::Finnhub))
}

/// The symbols asked for, or the venue's default ones. Blank entries are no symbols: an empty
/// `BINANCE_SYMBOLS=` (as `.env.example` and Docker Compose pass it) means the default.
fn chosen(asked: &[String], reference: &ReferenceData, venue: Venue) -> Vec<String> {
    let asked: Vec<String> = asked.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if asked.is_empty() { live::default_symbols(reference, venue) } else { asked }
}

/// The venues the live sources read, each with the symbols it follows.
pub fn followed(kinds: &[SourceKind], live: &LiveArgs, reference: &ReferenceData) -> Vec<(Venue, Vec<String>)> {
    kinds
        .iter()
        .filter_map(|kind| match kind {
            SourceKind::Binance => Some((Venue::Binance, chosen(&live.binance_symbols, reference, Venue::Binance))),
            SourceKind::Coinbase => {
                Some((Venue::Coinbase, chosen(&live.coinbase_products, reference, Venue::Coinbase)))
            }
            SourceKind::Finnhub => Some((Venue::Finnhub, chosen(&live.finnhub_symbols, reference, Venue::Finnhub))),
            SourceKind::Synthetic | SourceKind::Replay => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_symbol_lists_mean_the_venues_defaults() {
        let reference = ReferenceData::bundled().expect("bundled reference data");
        let defaults = live::default_symbols(&reference, Venue::Binance);
        assert!(!defaults.is_empty());
        assert_eq!(chosen(&[String::new()], &reference, Venue::Binance), defaults);
        assert_eq!(chosen(&[" ".into(), "".into()], &reference, Venue::Binance), defaults);
        assert_eq!(chosen(&["BTCUSDT".into(), "".into()], &reference, Venue::Binance), vec!["BTCUSDT".to_owned()]);
    }
}
