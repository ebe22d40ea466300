//! Coinbase Advanced Trade: `subscribe` to `market_trades` (a snapshot of recent trades, newest
//! first, then updates) and `heartbeats` within 5 s of connecting; every message carries the
//! connection's `sequence_num`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tickflow_core::contract::Venue;
use tickflow_core::venue::coinbase_reported_side;
use tungstenite::Message;

use crate::Stats;
use crate::market::ManifestTrade;
use crate::session::{Context, Next, Socket, VenueSession, Waiting, every, send_trade, with_waiting};

/// Coinbase sends a heartbeat every second (faster when `ping_interval` is shorter).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Recent trades per product in the snapshot that starts a `market_trades` subscription.
pub const SNAPSHOT_TRADES: usize = 50;
const SUBSCRIBE_WITHIN: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Subscribe {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    product_ids: Vec<String>,
    channel: String,
}

pub struct CoinbaseSession {
    context: Arc<Context>,
    opened: Instant,
    products: HashSet<String>,
    heartbeats: bool,
    sequence: u64,
    last_heartbeat: Instant,
    heartbeat_counter: u64,
}

pub fn open(_path: &str, context: &Arc<Context>) -> Result<CoinbaseSession, String> {
    Ok(CoinbaseSession {
        context: context.clone(),
        opened: Instant::now(),
        products: HashSet::new(),
        heartbeats: false,
        sequence: 0,
        last_heartbeat: Instant::now(),
        heartbeat_counter: 0,
    })
}

fn timestamp(time_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(time_us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

fn trade_json(trade: &ManifestTrade) -> serde_json::Value {
    serde_json::json!({
        "trade_id": trade.id.to_string(), "product_id": trade.symbol, "price": trade.price, "size": trade.qty,
        "side": coinbase_reported_side(trade.side), "time": timestamp(trade.time_us),
    })
}

impl CoinbaseSession {
    /// A message of `channel` with this connection's next sequence number.
    fn message(&mut self, channel: &str, events: serde_json::Value) -> String {
        let message = serde_json::json!({
            "channel": channel, "client_id": "", "timestamp": timestamp(tickflow_service::now_us()),
            "sequence_num": self.sequence, "events": events,
        });
        self.sequence += 1;
        message.to_string()
    }
}

impl VenueSession for CoinbaseSession {
    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    fn text(&mut self, ws: &mut Socket, text: &str) -> anyhow::Result<Next> {
        let request = match serde_json::from_str::<Subscribe>(text) {
            Ok(request) if request.kind == "unsubscribe" && request.channel == "market_trades" => {
                for product in &request.product_ids {
                    self.products.remove(product);
                }
                return Ok(Next::Continue);
            }
            Ok(request) if request.kind == "subscribe" => request,
            _ => {
                let error = serde_json::json!({"type": "error", "message": "failure to parse subscribe message"});
                ws.send(Message::text(error.to_string()))?;
                return Ok(Next::Continue);
            }
        };
        self.context.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
        match request.channel.as_str() {
            "heartbeats" => self.heartbeats = true,
            "market_trades" => self.products.extend(request.product_ids.iter().cloned()),
            other => {
                let error = serde_json::json!({"type": "error", "message": format!("unknown channel {other}")});
                ws.send(Message::text(error.to_string()))?;
                return Ok(Next::Continue);
            }
        }
        let subscribed = serde_json::json!([{"subscriptions": {request.channel.clone(): request.product_ids}}]);
        let message = self.message("subscriptions", subscribed);
        ws.send(Message::text(message))?;
        if request.channel == "market_trades" {
            for product in &request.product_ids {
                let size = self.context.config.faults.short_snapshot.unwrap_or(SNAPSHOT_TRADES);
                let mut recent = self.context.exchange.latest(Venue::Coinbase, product, size);
                recent.reverse(); // newest first, as Coinbase sends it
                let trades: Vec<_> = recent.iter().map(|t| trade_json(t)).collect();
                let message =
                    self.message("market_trades", serde_json::json!([{"type": "snapshot", "trades": trades}]));
                ws.send(Message::text(message))?;
            }
        }
        Ok(Next::Continue)
    }

    /// Heartbeats every interval; a connection without a subscription after 5 s is closed.
    fn tick(&mut self, ws: &mut Socket) -> anyhow::Result<Next> {
        if self.products.is_empty() && !self.heartbeats && self.opened.elapsed() > SUBSCRIBE_WITHIN {
            let error = serde_json::json!({"type": "error", "message": "subscribe within 5 seconds of connecting"});
            ws.send(Message::text(error.to_string()))?;
            let _ = ws.close(None);
            return Ok(Next::Close);
        }
        if self.heartbeats && self.last_heartbeat.elapsed() >= self.context.config.ping_interval.min(HEARTBEAT) {
            self.heartbeat_counter += 1;
            let now = timestamp(tickflow_service::now_us());
            let events = serde_json::json!([{"current_time": now, "heartbeat_counter": self.heartbeat_counter}]);
            let message = self.message("heartbeats", events);
            ws.send(Message::text(message))?;
            self.context.stats.pings.fetch_add(1, Ordering::Relaxed);
            self.last_heartbeat = Instant::now();
        }
        Ok(Next::Continue)
    }

    /// Coinbase collects a product's trades of a moment into one update, newest first: this
    /// trade and every one already waiting go out as one update per product.
    fn trade(&mut self, ws: &mut Socket, trade: &ManifestTrade, missed: &Waiting) -> anyhow::Result<Next> {
        let batch = with_waiting(trade, missed, |t| t.venue == Venue::Coinbase && self.products.contains(&t.symbol));
        let mut products: Vec<String> = batch.iter().map(|t| t.symbol.clone()).collect();
        products.sort();
        products.dedup();
        let context = self.context.clone();
        let stats = &context.stats;
        for product in products {
            let trades: Vec<_> = batch.iter().rev().filter(|t| t.symbol == product).map(trade_json).collect();
            if trades.len() > 1 {
                stats.multi_trade_messages.fetch_add(1, Ordering::Relaxed);
            }
            let message = self.message("market_trades", serde_json::json!([{"type": "update", "trades": trades}]));
            // A lost message: its sequence number is used, the client never sees it.
            let next = Stats::count_of(&stats.venue_frames[Venue::Coinbase as usize]) + 1;
            if every(context.config.faults.sequence_gap_every, next) {
                stats.count_frame(Venue::Coinbase);
                stats.sequence_gaps.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if send_trade(ws, Venue::Coinbase, message, None, &context.config.faults, stats, missed)? == Next::Close {
                return Ok(Next::Close);
            }
        }
        Ok(Next::Continue)
    }
}
