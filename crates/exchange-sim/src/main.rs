//! `exchange-sim`: the local exchange (see the library docs). Runs until SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use exchange_sim::{Faults, Ports, SimConfig, Simulator, Stats};
use tickflow_core::contract::Venue;
use tickflow_service::shutdown::Shutdown;
use tickflow_service::{ServiceArgs, run_service};

/// A local exchange speaking the Binance, Coinbase and Finnhub WebSocket protocols (and Binance's
/// REST backfill) on a seeded synthetic market, with fault injection and a ground-truth manifest.
#[derive(Debug, Parser)]
#[command(name = "exchange-sim", version)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
    /// Address every server listens on (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port of the Binance WebSocket server (`/ws/...`, `/stream?streams=...`); 0 picks a free one.
    #[arg(long, default_value_t = 9443)]
    binance_ws_port: u16,
    /// Port of the Binance REST server (`/api/v3/historicalTrades`); 0 picks a free one.
    #[arg(long, default_value_t = 9444)]
    binance_rest_port: u16,
    /// Port of the Coinbase Advanced Trade WebSocket server; 0 picks a free one.
    #[arg(long, default_value_t = 9445)]
    coinbase_ws_port: u16,
    /// Port of the Finnhub WebSocket server; 0 picks a free one.
    #[arg(long, default_value_t = 9446)]
    finnhub_ws_port: u16,
    /// The Finnhub API key clients must present (default: any).
    #[arg(long, env = "EXCHANGE_SIM_FINNHUB_TOKEN", hide_env_values = true)]
    finnhub_token: Option<String>,
    /// Symbols a Finnhub connection may subscribe to.
    #[arg(long, default_value_t = 50)]
    finnhub_max_symbols: usize,
    /// Seed of the synthetic market: the same seed makes the same trades in the same order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Trades per second over the whole market (each venue gets its instruments' share).
    #[arg(long, default_value_t = 2_000.0)]
    rate: f64,
    /// Stop trading after this many trades.
    #[arg(long)]
    max_trades: Option<u64>,
    /// Where the ground truth goes: one JSON object per trade made (JSON Lines).
    #[arg(long, default_value = ".tickflow/exchange-manifest.jsonl")]
    manifest: PathBuf,
    /// Milliseconds between Binance's WebSocket pings, Coinbase's heartbeats and Finnhub's pings.
    #[arg(long, default_value_t = 20_000)]
    ping_interval_ms: u64,
    /// Drop the TCP connection, without a close frame, after every N trade frames of a venue.
    #[arg(long)]
    disconnect_every: Option<u64>,
    /// Go silent (not even pings) for --stall-ms after every N trade frames; that time's trades are missed.
    #[arg(long)]
    stall_every: Option<u64>,
    /// How long a --stall-every stall lasts, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    stall_ms: u64,
    /// Send every N-th trade frame twice.
    #[arg(long)]
    duplicate_every: Option<u64>,
    /// Send a truncated frame after every N-th trade frame.
    #[arg(long)]
    malformed_every: Option<u64>,
    /// Send a frame larger than --oversized-bytes after every N-th trade frame.
    #[arg(long)]
    oversized_every: Option<u64>,
    /// Size in bytes of the --oversized-every frames (they are one byte larger).
    #[arg(long, default_value_t = 1 << 20)]
    oversized_bytes: usize,
    /// Announce maintenance (Binance `serverShutdown`) and close after every N trade frames.
    #[arg(long)]
    shutdown_every: Option<u64>,
    /// Lose every N-th Coinbase message: its `sequence_num` is skipped.
    #[arg(long)]
    sequence_gap_every: Option<u64>,
    /// Answer every Binance REST request with 503, so backfills fail and gaps are reported.
    #[arg(long)]
    rest_unavailable: bool,
    /// Coinbase snapshots hold this many trades per product instead of 50.
    #[arg(long)]
    short_snapshot: Option<usize>,
    /// After each --disconnect-every drop the venue refuses connections for this many
    /// milliseconds (an outage; the market and the other venues keep trading).
    #[arg(long)]
    outage_ms: Option<u64>,
    /// After each dropped Binance connection, Binance's REST API answers HTTP 429 with
    /// `Retry-After: 1` for this many milliseconds.
    #[arg(long)]
    rest_rate_limit_ms: Option<u64>,
    /// Binance's REST API wants this X-MBX-APIKEY (401 without a key, 403 with another one).
    #[arg(long, env = "EXCHANGE_SIM_BINANCE_API_KEY", hide_env_values = true)]
    rest_api_key: Option<String>,
    /// Inject the faults into these venues only (comma-separated: binance, coinbase, finnhub); default all.
    #[arg(long, value_delimiter = ',', value_parser = parse_venue)]
    fault_venues: Vec<Venue>,
    /// Serve wss:// and https:// under a CA made at start, written to --tls-ca-out for clients to trust.
    #[arg(long)]
    tls: bool,
    /// Where --tls writes its CA certificate (PEM).
    #[arg(long, default_value = ".tickflow/exchange-ca.pem")]
    tls_ca_out: PathBuf,
    /// Start trading when the first client connects, so the manifest holds only trades a client could see.
    #[arg(long)]
    open_on_first_connection: bool,
}

fn parse_venue(text: &str) -> Result<Venue, String> {
    Venue::ALL
        .into_iter()
        .find(|v| v.as_str() == text)
        .ok_or_else(|| format!("{text:?} is not a venue (binance, coinbase, finnhub)"))
}

fn main() -> ExitCode {
    run_service(|args: &Args| &args.service, run)
}

fn run(args: Args) -> anyhow::Result<()> {
    let shutdown = Shutdown::install()?;
    let config = SimConfig {
        seed: args.seed,
        rate: args.rate,
        max_trades: args.max_trades,
        ping_interval: Duration::from_millis(args.ping_interval_ms),
        manifest: args.manifest,
        open_on_first_connection: args.open_on_first_connection,
        finnhub_token: args.finnhub_token,
        finnhub_max_symbols: args.finnhub_max_symbols,
        tls: args.tls,
        faults: Faults {
            disconnect_every: args.disconnect_every,
            stall_every: args.stall_every,
            stall: Duration::from_millis(args.stall_ms),
            duplicate_every: args.duplicate_every,
            malformed_every: args.malformed_every,
            oversized_every: args.oversized_every,
            oversized_bytes: args.oversized_bytes,
            shutdown_every: args.shutdown_every,
            sequence_gap_every: args.sequence_gap_every,
            rest_unavailable: args.rest_unavailable,
            short_snapshot: args.short_snapshot,
            outage: args.outage_ms.map(Duration::from_millis),
            venues: args.fault_venues,
            rest_rate_limit: args.rest_rate_limit_ms.map(Duration::from_millis),
            rest_api_key: args.rest_api_key,
        },
    };
    let ports = Ports {
        binance_ws: args.binance_ws_port,
        binance_rest: args.binance_rest_port,
        coinbase_ws: args.coinbase_ws_port,
        finnhub_ws: args.finnhub_ws_port,
    };
    let simulator = Simulator::start(config, &args.host, ports)?;
    if let Some(ca) = &simulator.tls_ca {
        if let Some(folder) = args.tls_ca_out.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(&args.tls_ca_out, ca)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.tls_ca_out.display()))?;
    }
    tracing::info!(
        binance_ws = %simulator.binance_ws,
        binance_rest = %simulator.binance_rest,
        coinbase_ws = %simulator.coinbase_ws,
        finnhub_ws = %simulator.finnhub_ws,
        tls = simulator.tls_ca.is_some(),
        "exchange simulator up"
    );
    while !shutdown.requested() {
        std::thread::sleep(Duration::from_millis(200));
    }
    simulator.stop();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !simulator.finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10)); // the market writes out the manifest
    }
    let stats = &simulator.stats;
    tracing::info!(
        trades = Stats::count_of(&stats.trades),
        connections = Stats::count_of(&stats.connections),
        disconnects = Stats::count_of(&stats.disconnects),
        stalls = Stats::count_of(&stats.stalls),
        "exchange simulator stopped"
    );
    Ok(())
}
