//! Finnhub: `wss://ws.finnhub.io?token=KEY` (a wrong key is refused with HTTP 401),
//! `{"type":"subscribe","symbol":"AAPL"}` one symbol at a time, at most 50 symbols per key
//! (`SimConfig::finnhub_max_symbols`)
//! (`{"type":"error","msg":"Subscribing to too many symbols"}` past that), trades in batches
//! without ids (`{"type":"trade","data":[{"s","p","t","v","c"}]}`, `p` and `v` numbers, `t` ms),
//! and `{"type":"ping"}` now and then.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tickflow_core::contract::Venue;
use tungstenite::Message;

use crate::market::ManifestTrade;
use crate::session::{Context, Next, Socket, VenueSession, Waiting, send_trade, with_waiting};

pub struct FinnhubSession {
    context: Arc<Context>,
    symbols: HashSet<String>,
    last_ping: Instant,
}

pub fn open(path: &str, context: &Arc<Context>) -> Result<FinnhubSession, String> {
    let token = path.split_once("token=").map(|(_, rest)| rest.split('&').next().unwrap_or(""));
    if let Some(expected) = &context.config.finnhub_token
        && token != Some(expected.as_str())
    {
        context.stats.refused.fetch_add(1, Ordering::Relaxed);
        return Err("Invalid API key".into());
    }
    Ok(FinnhubSession { context: context.clone(), symbols: HashSet::new(), last_ping: Instant::now() })
}

/// One `trade` frame of `trades`, in the order they happened (Finnhub batches trades of several
/// symbols into one frame).
fn frame(trades: &[ManifestTrade]) -> String {
    let data: Vec<String> = trades
        .iter()
        .map(|trade| {
            let conditions: Vec<String> = trade.conditions.iter().map(|c| format!("{c:?}")).collect();
            format!(
                r#"{{"s":"{}","p":{},"t":{},"v":{},"c":[{}]}}"#,
                trade.symbol,
                trade.price,
                trade.time_us / 1000,
                trade.qty,
                conditions.join(",")
            )
        })
        .collect();
    format!(r#"{{"type":"trade","data":[{}]}}"#, data.join(","))
}

impl VenueSession for FinnhubSession {
    fn venue(&self) -> Venue {
        Venue::Finnhub
    }

    fn text(&mut self, ws: &mut Socket, text: &str) -> anyhow::Result<Next> {
        let request: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let Some(symbol) = request["symbol"].as_str() else { return Ok(Next::Continue) };
        match request["type"].as_str() {
            Some("subscribe")
                if self.symbols.len() >= self.context.config.finnhub_max_symbols && !self.symbols.contains(symbol) =>
            {
                let error = serde_json::json!({"type": "error", "msg": "Subscribing to too many symbols"});
                ws.send(Message::text(error.to_string()))?;
            }
            Some("subscribe") => {
                self.context.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
                self.symbols.insert(symbol.to_owned());
            }
            Some("unsubscribe") => {
                self.symbols.remove(symbol);
            }
            _ => {}
        }
        Ok(Next::Continue)
    }

    fn tick(&mut self, ws: &mut Socket) -> anyhow::Result<Next> {
        if self.last_ping.elapsed() >= self.context.config.ping_interval {
            ws.send(Message::text(r#"{"type":"ping"}"#))?;
            self.context.stats.pings.fetch_add(1, Ordering::Relaxed);
            self.last_ping = Instant::now();
        }
        Ok(Next::Continue)
    }

    fn trade(&mut self, ws: &mut Socket, trade: &ManifestTrade, missed: &Waiting) -> anyhow::Result<Next> {
        // This trade and every one already waiting go out as one frame, as Finnhub batches them.
        let batch = with_waiting(trade, missed, |t| t.venue == Venue::Finnhub && self.symbols.contains(&t.symbol));
        if batch.is_empty() {
            return Ok(Next::Continue);
        }
        send_trade(ws, Venue::Finnhub, frame(&batch), None, &self.context.config.faults, &self.context.stats, missed)
    }
}
