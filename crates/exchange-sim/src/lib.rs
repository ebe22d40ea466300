//! A local exchange that speaks the venues' protocols, so the producer's real clients can be run
//! and tested without the internet. Binance: combined `@trade` streams over WebSocket (pings,
//! live `SUBSCRIBE`, `serverShutdown`) and `GET /api/v3/historicalTrades` for backfill by id.
//! Coinbase Advanced Trade: `market_trades` (snapshot, then updates) and `heartbeats`, with a
//! per-connection `sequence_num` and the 5 s subscribe deadline. Finnhub: the API key in the URL,
//! one subscribe message per symbol, at most 50 symbols, trades without ids, application pings.
//!
//! The market is the project's seeded synthetic market (geometric Brownian motion per
//! instrument, bursts, jumps), paced in real time: the same seed gives the same trades in the same
//! order, stamped with the time they happen. Every trade that happens is written to a ground-truth
//! manifest, whether or not a client was connected to see it. Faults are injected per connection:
//! disconnects, silent stalls, duplicated, malformed and oversized frames. With `tls` it serves
//! `wss://` and `https://` under a CA it makes at start ([`Simulator::tls_ca`]).

mod binance;
mod coinbase;
mod finnhub;
mod market;
mod session;
mod tls;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tickflow_core::contract::Venue;

pub use market::ManifestTrade;

/// Faults injected into the WebSocket connections; `None` or zero turns one off. Counts are of
/// the trade frames a venue sent, over all its connections.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Drop the TCP connection, without a close frame, after this many trades.
    pub disconnect_every: Option<u64>,
    /// Go silent (send nothing, not even pings) for `stall` after this many trades; the trades of
    /// that time are missed by the connection.
    pub stall_every: Option<u64>,
    pub stall: Duration,
    /// Send every n-th trade frame twice.
    pub duplicate_every: Option<u64>,
    /// Send a truncated frame after every n-th trade.
    pub malformed_every: Option<u64>,
    /// Send a frame larger than `oversized_bytes` after every n-th trade.
    pub oversized_every: Option<u64>,
    pub oversized_bytes: usize,
    /// Announce maintenance (`serverShutdown`) and close after this many trades.
    pub shutdown_every: Option<u64>,
    /// Lose every n-th message of a sequenced feed (Coinbase): its `sequence_num` is skipped.
    pub sequence_gap_every: Option<u64>,
    /// Binance's REST API answers every request with HTTP 503 (backfills fail).
    pub rest_unavailable: bool,
    /// Coinbase snapshots hold this many trades per product instead of the venue's 50.
    pub short_snapshot: Option<usize>,
    /// After a dropped connection the venue refuses new connections for this long (an outage
    /// while the market, and the other venues, keep trading).
    pub outage: Option<Duration>,
    /// The venues the faults apply to; empty: every venue.
    pub venues: Vec<Venue>,
    /// After a dropped Binance connection, Binance's REST API answers HTTP 429 with
    /// `Retry-After: 1` for this long (a rate limit the backfill must wait out).
    pub rest_rate_limit: Option<Duration>,
    /// Binance's REST API wants this `X-MBX-APIKEY` (401 without it, 403 with another).
    pub rest_api_key: Option<String>,
}

impl Faults {
    /// Whether the faults apply to `venue`'s connections.
    pub fn apply_to(&self, venue: Venue) -> bool {
        self.venues.is_empty() || self.venues.contains(&venue)
    }
}

/// Where the servers listen; 0 lets the system choose.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ports {
    pub binance_ws: u16,
    pub binance_rest: u16,
    pub coinbase_ws: u16,
    pub finnhub_ws: u16,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// Trades per second over all instruments.
    pub rate: f64,
    /// Stop trading after this many trades, over all venues (the servers stay up).
    pub max_trades: Option<u64>,
    /// Between Binance's WebSocket pings, Coinbase's heartbeats and Finnhub's pings.
    pub ping_interval: Duration,
    pub faults: Faults,
    /// Where the ground truth goes: one JSON object per trade (`ManifestTrade`).
    pub manifest: PathBuf,
    /// Start trading shortly after the first client has connected (tests: no trade happens unseen).
    pub open_on_first_connection: bool,
    /// The Finnhub API key clients must present; `None` accepts any.
    pub finnhub_token: Option<String>,
    /// Symbols a Finnhub connection may subscribe to (the free tier's limit is about 50).
    pub finnhub_max_symbols: usize,
    /// Serve `wss://` and `https://` (under a CA made at start) instead of `ws://` and `http://`.
    pub tls: bool,
}

/// What the simulator has done, for tests and its log.
#[derive(Debug, Default)]
pub struct Stats {
    pub trades: AtomicU64,
    pub trade_frames: AtomicU64,
    /// Trade frames per venue (indexed by `Venue as usize`), which the faults count.
    pub venue_frames: [AtomicU64; 3],
    pub connections: AtomicU64,
    pub subscriptions: AtomicU64,
    pub pings: AtomicU64,
    pub pongs: AtomicU64,
    pub disconnects: AtomicU64,
    pub stalls: AtomicU64,
    pub duplicates: AtomicU64,
    pub malformed: AtomicU64,
    pub oversized: AtomicU64,
    pub shutdowns: AtomicU64,
    pub sequence_gaps: AtomicU64,
    /// Handshakes refused (a wrong API key).
    pub refused: AtomicU64,
    /// Connections refused during an outage.
    pub refused_in_outage: AtomicU64,
    /// Per venue: until when (ms since the epoch) an outage refuses connections.
    pub down_until_ms: [AtomicU64; 3],
    /// Until when (ms since the epoch) Binance's REST API answers 429.
    pub rest_limited_until_ms: AtomicU64,
    /// REST answers of 429, and of 401/403.
    pub rest_rate_limited: AtomicU64,
    pub rest_refused: AtomicU64,
    /// Coinbase updates that carried more than one trade.
    pub multi_trade_messages: AtomicU64,
    pub rest_requests: AtomicU64,
}

impl Stats {
    /// The current value of one of the counters.
    pub fn count_of(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts a trade frame of `venue`; returns how many that venue has sent, this one included.
    pub fn count_frame(&self, venue: Venue) -> u64 {
        self.trade_frames.fetch_add(1, Ordering::Relaxed);
        self.venue_frames[venue as usize].fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A running simulator; dropping it stops it.
#[derive(Debug)]
pub struct Simulator {
    pub binance_ws: SocketAddr,
    pub binance_rest: SocketAddr,
    pub coinbase_ws: SocketAddr,
    pub finnhub_ws: SocketAddr,
    /// With `tls`: the PEM of the CA the servers' certificate is signed by, for clients to trust.
    pub tls_ca: Option<String>,
    pub stats: Arc<Stats>,
    exchange: Arc<market::Exchange>,
    stop: Arc<AtomicBool>,
}

impl Simulator {
    /// Binds the servers on `host` and starts trading.
    pub fn start(config: SimConfig, host: &str, ports: Ports) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let exchange = market::Exchange::start(&config, stats.clone(), stop.clone())?;
        let binance_ws = TcpListener::bind((host, ports.binance_ws))?;
        let coinbase_ws = TcpListener::bind((host, ports.coinbase_ws))?;
        let finnhub_ws = TcpListener::bind((host, ports.finnhub_ws))?;
        let tls = if config.tls { Some(Arc::new(tls::Certificates::generate(host)?)) } else { None };
        let rest = match &tls {
            Some(certificates) => tiny_http::Server::https((host, ports.binance_rest), certificates.https()),
            None => tiny_http::Server::http((host, ports.binance_rest)),
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let simulator = Simulator {
            binance_ws: binance_ws.local_addr()?,
            binance_rest: rest.server_addr().to_ip().ok_or_else(|| anyhow::anyhow!("REST address"))?,
            coinbase_ws: coinbase_ws.local_addr()?,
            finnhub_ws: finnhub_ws.local_addr()?,
            tls_ca: tls.as_ref().map(|certificates| certificates.ca_pem.clone()),
            stats: stats.clone(),
            exchange: exchange.clone(),
            stop: stop.clone(),
        };
        let context = Arc::new(session::Context {
            exchange: exchange.clone(),
            tls,
            config,
            stats: stats.clone(),
            stop: stop.clone(),
        });
        session::serve(binance_ws, Venue::Binance, context.clone(), binance::open);
        session::serve(coinbase_ws, Venue::Coinbase, context.clone(), coinbase::open);
        let rest_faults = context.config.faults.clone();
        session::serve(finnhub_ws, Venue::Finnhub, context, finnhub::open);
        binance::serve_rest(rest, exchange, stats, stop, rest_faults);
        Ok(simulator)
    }

    /// Whether every trade (`max_trades`) has happened.
    pub fn finished(&self) -> bool {
        self.exchange.finished()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}
