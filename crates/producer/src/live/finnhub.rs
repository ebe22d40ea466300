//! Finnhub (API key required): one connection per key, one subscribe message per symbol, at most
//! about 50 symbols per key. Trades carry no id or sequence, so nothing missed while disconnected
//! can be recovered or even detected per trade: each reconnect is counted as an unrecovered gap
//! and logged with the symbols and the time range it covers. The key is in the URL, so it is
//! redacted from every error this client's connections report.

use std::fmt;

use tickflow_core::contract::Venue;
use tungstenite::Message;

use super::{FeedCounters, Flow, Out, Protocol, Socket};

pub const DEFAULT_WS_URL: &str = "wss://ws.finnhub.io";
/// Symbols a free key may subscribe to.
pub const MAX_SYMBOLS_PER_KEY: usize = 50;

/// An API key: shown as `***` by Debug and Display.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: String) -> Self {
        ApiKey(key)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug)]
pub struct Finnhub {
    ws_url: String,
    key: ApiKey,
    symbols: Vec<String>,
    counters: FeedCounters,
    /// When the last frame of the previous connection arrived (ms), if there was one.
    last_heard_ms: Option<i64>,
}

impl Finnhub {
    pub fn new(ws_url: &str, key: ApiKey, symbols: Vec<String>, counters: FeedCounters) -> anyhow::Result<Self> {
        if symbols.len() > MAX_SYMBOLS_PER_KEY {
            anyhow::bail!(
                "Finnhub allows about {MAX_SYMBOLS_PER_KEY} symbols per API key; {} were asked for (--finnhub-symbols)",
                symbols.len()
            );
        }
        Ok(Finnhub { ws_url: ws_url.trim_end_matches('/').to_owned(), key, symbols, counters, last_heard_ms: None })
    }
}

impl Protocol for Finnhub {
    fn venue(&self) -> Venue {
        Venue::Finnhub
    }

    fn url(&self) -> String {
        format!("{}/?token={}", self.ws_url, self.key.0)
    }

    fn redact(&self, text: String) -> String {
        if self.key.0.is_empty() { text } else { text.replace(&self.key.0, "***") }
    }

    fn connected(&mut self, socket: &mut Socket, _out: &Out) -> anyhow::Result<()> {
        if let Some(from_ms) = self.last_heard_ms {
            self.counters.unrecovered.inc();
            tracing::warn!(
                symbols = self.symbols.len(),
                from_ms,
                to_ms = tickflow_service::now_us() / 1000,
                "Finnhub trades while disconnected cannot be recovered (the feed has no trade ids)"
            );
        }
        for symbol in &self.symbols {
            socket.send(Message::text(serde_json::json!({"type": "subscribe", "symbol": symbol}).to_string()))?;
        }
        Ok(())
    }

    fn text(&mut self, text: &str, receive_time_us: i64, out: &Out) -> anyhow::Result<Flow> {
        self.last_heard_ms = Some(receive_time_us / 1000);
        if text.len() < 64 && text.contains(r#""type":"ping""#) {
            return Ok(Flow::Continue);
        }
        if text.contains(r#""type":"error""#) {
            let message: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            self.counters.venue_errors.inc();
            tracing::error!(message = %message["msg"], "Finnhub refused a request");
            return Ok(Flow::Continue);
        }
        out.send(text.to_owned(), receive_time_us)?;
        Ok(Flow::Continue)
    }
}
