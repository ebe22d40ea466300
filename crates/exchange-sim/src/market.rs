//! The exchange's market: the seeded synthetic market paced in real time, each venue's trades
//! given per-symbol trade ids, kept for REST backfill and snapshots, written to the manifest and
//! offered to every connected session.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tickflow_core::contract::{Side, Venue};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_core::venue::BinanceRestTrade;
use tickflow_service::now_us;

use crate::{SimConfig, Stats};

/// How long after the first connection a market that waits for it opens: time for the client
/// to subscribe (Finnhub takes one message per symbol).
const SUBSCRIBE_GRACE: Duration = Duration::from_millis(250);
/// Trades a session may fall behind before the exchange drops it, as venues drop slow clients.
const SESSION_BACKLOG: usize = 65_536;

/// One line of the manifest: a trade that happened. `id` is the venue's trade id (Finnhub sends
/// none: there it only orders the manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTrade {
    pub venue: Venue,
    pub symbol: String,
    pub id: u64,
    pub price: String,
    pub qty: String,
    pub time_us: i64,
    pub side: Side,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

impl ManifestTrade {
    /// The trade as Binance's REST API returns it.
    pub fn binance_rest(&self) -> BinanceRestTrade {
        BinanceRestTrade {
            id: self.id,
            price: self.price.clone(),
            qty: self.qty.clone(),
            time: self.time_us / 1000,
            is_buyer_maker: self.side == Side::Sell,
        }
    }
}

/// Every trade made so far, per venue and symbol, in id order.
type History = HashMap<(Venue, String), Vec<Arc<ManifestTrade>>>;

#[derive(Debug)]
pub struct Exchange {
    history: Mutex<History>,
    /// Trade ids of every symbol start here: the start time in microseconds, far from zero as a
    /// venue's ids are, and above every id an earlier run can have reached (no symbol trades
    /// more than once a microsecond), so a restarted simulator never repeats an id.
    first_id: u64,
    sessions: Mutex<Vec<SyncSender<Arc<ManifestTrade>>>>,
    finished: AtomicBool,
}

impl Exchange {
    pub fn start(config: &SimConfig, stats: Arc<Stats>, stop: Arc<AtomicBool>) -> anyhow::Result<Arc<Self>> {
        let manifest = BufWriter::new(
            std::fs::File::create(&config.manifest)
                .map_err(|e| anyhow::anyhow!("cannot create the manifest {}: {e}", config.manifest.display()))?,
        );
        let reference = ReferenceData::bundled()?;
        let listed: History = reference
            .instruments()
            .iter()
            .flat_map(|i| i.venue_symbols.iter())
            .map(|(venue, symbol)| ((*venue, symbol.to_string()), Vec::new()))
            .collect();
        let exchange = Arc::new(Exchange {
            history: Mutex::new(listed),
            first_id: now_us().unsigned_abs(),
            sessions: Mutex::default(),
            finished: AtomicBool::new(false),
        });
        let (worker, config) = (exchange.clone(), config.clone());
        std::thread::spawn(move || {
            if config.open_on_first_connection {
                while stats.connections.load(Ordering::Relaxed) == 0 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                std::thread::sleep(SUBSCRIBE_GRACE);
            }
            let market = SyntheticMarket::new(
                &reference,
                SyntheticConfig {
                    seed: config.seed,
                    trades_per_second: config.rate,
                    start_time_us: now_us(),
                    ..Default::default()
                },
            );
            worker.trade(market, manifest, config.max_trades, &stats, &stop)
        });
        Ok(exchange)
    }

    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    /// A new session's feed of trades from now on.
    pub fn subscribe(&self) -> Receiver<Arc<ManifestTrade>> {
        let (sender, receiver) = sync_channel(SESSION_BACKLOG);
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).push(sender);
        receiver
    }

    /// Up to `limit` trades of `symbol` on `venue` from id `from_id` on; `None` for an unknown symbol.
    pub fn trades_from(
        &self,
        venue: Venue,
        symbol: &str,
        from_id: u64,
        limit: usize,
    ) -> Option<Vec<Arc<ManifestTrade>>> {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let trades = history.get(&(venue, symbol.to_owned()))?;
        let start = from_id.saturating_sub(self.first_id).min(trades.len() as u64) as usize;
        Some(trades[start..].iter().take(limit).cloned().collect())
    }

    /// The latest `count` trades of `symbol` on `venue`, oldest first.
    pub fn latest(&self, venue: Venue, symbol: &str, count: usize) -> Vec<Arc<ManifestTrade>> {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let trades = history.get(&(venue, symbol.to_owned())).map_or(&[][..], Vec::as_slice);
        trades[trades.len().saturating_sub(count)..].to_vec()
    }

    fn trade(
        &self,
        mut market: SyntheticMarket,
        mut manifest: BufWriter<std::fs::File>,
        max_trades: Option<u64>,
        stats: &Stats,
        stop: &AtomicBool,
    ) {
        let mut traded = 0u64;
        while !stop.load(Ordering::Relaxed) && max_trades.is_none_or(|max| traded < max) {
            let trade = market.next_trade();
            if trade.price_only {
                continue; // a quote, not a trade: the simulator only makes trades
            }
            let ahead = trade.event_time_us - now_us();
            if ahead > 0 {
                std::thread::sleep(Duration::from_micros(ahead.unsigned_abs()));
            }
            let symbol = trade.venue_symbol.to_string();
            let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            let trades = history.entry((trade.venue, symbol.clone())).or_default();
            // Binance and Finnhub stamp trades in milliseconds, Coinbase in microseconds.
            let now = now_us();
            let time_us = if trade.venue == Venue::Coinbase { now } else { now / 1000 * 1000 };
            let made = Arc::new(ManifestTrade {
                venue: trade.venue,
                symbol,
                id: self.first_id + trades.len() as u64,
                price: trade.price.to_string(),
                qty: trade.size.to_string(),
                time_us,
                side: trade.side,
                conditions: trade.conditions.iter().map(|c| c.to_string()).collect(),
            });
            trades.push(made.clone());
            drop(history);
            if serde_json::to_writer(&mut manifest, &*made).is_err() || manifest.write_all(b"\n").is_err() {
                tracing::error!("cannot write the manifest; stopping the market");
                break;
            }
            self.sessions.lock().unwrap_or_else(|e| e.into_inner()).retain(|session| {
                !matches!(session.try_send(made.clone()), Err(TrySendError::Full(_) | TrySendError::Disconnected(_)))
            });
            traded += 1;
            stats.trades.fetch_add(1, Ordering::Relaxed);
            if traded.is_multiple_of(256) {
                let _ = manifest.flush();
            }
        }
        let _ = manifest.flush();
        self.finished.store(true, Ordering::Relaxed);
        tracing::info!(trades = traded, "market closed");
    }
}
