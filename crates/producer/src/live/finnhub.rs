//! Finnhub (API key required): one connection per key, one subscribe message per symbol, at most
//! about 50 symbols per key. Trades carry no id or sequence, so nothing missed while disconnected
//! can be recovered or even detected per trade: after a reconnect each symbol reports the time
//! range from its last delivered trade to its first trade since as missed (a `disconnected` feed
//! gap; see [`Outages`]).
//! The key is in the URL, so it is redacted from every error this client's connections report.

use std::time::Duration;
use tickflow_core::contract::{GapReason, Venue};
use tickflow_core::feed::{MissedTrades, Outages};
use tickflow_core::venue::{FinnhubMessage, finnhub_message_of};

pub use super::secret::ApiKey;
use super::{ClientOutput, FeedCounters, Flow, Protocol};
use crate::resume::VenueResume;

pub const DEFAULT_WS_URL: &str = "wss://ws.finnhub.io";
/// Symbols a free key may subscribe to.
pub const MAX_SYMBOLS_PER_KEY: usize = 50;

#[derive(Debug)]
pub struct Finnhub {
    ws_url: String,
    key: ApiKey,
    symbols: Vec<String>,
    counters: FeedCounters,
    outages: Outages,
}

impl Finnhub {
    pub fn new(ws_url: &str, key: ApiKey, symbols: Vec<String>, counters: FeedCounters) -> anyhow::Result<Self> {
        if symbols.len() > MAX_SYMBOLS_PER_KEY {
            anyhow::bail!(
                "Finnhub allows about {MAX_SYMBOLS_PER_KEY} symbols per API key; {} were asked for (--finnhub-symbols)",
                symbols.len()
            );
        }
        let ws_url = ws_url.trim_end_matches('/').to_owned();
        Ok(Finnhub { ws_url, key, symbols, counters, outages: Outages::new(1_000) })
    }

    /// Reports closed gaps `(symbol, from, to)` as missed trades.
    fn report(&self, closed: Vec<(String, i64, i64)>, out: &ClientOutput) -> anyhow::Result<()> {
        for (symbol, from_us, to_us) in closed {
            let detected_at_us = out.now_us();
            let missed =
                MissedTrades::span(Venue::Finnhub, &symbol, GapReason::Disconnected, from_us, to_us, detected_at_us);
            out.missed(missed, &self.counters)?;
        }
        Ok(())
    }
}

impl Protocol for Finnhub {
    fn venue(&self) -> Venue {
        Venue::Finnhub
    }

    fn url(&self) -> String {
        format!("{}/?token={}", self.ws_url, self.key.expose())
    }

    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The venue pings about once a minute.
    fn watchdog(&self) -> Duration {
        Duration::from_secs(180)
    }

    fn redact(&self, text: String) -> String {
        self.key.redact(text)
    }

    fn connected(&mut self, out: &ClientOutput) -> anyhow::Result<Vec<String>> {
        self.outages.subscribed(&self.symbols, out.now_us());
        Ok(self
            .symbols
            .iter()
            .map(|symbol| serde_json::json!({"type": "subscribe", "symbol": symbol}).to_string())
            .collect())
    }

    fn text(&mut self, text: &str, receive_time_us: i64, out: &ClientOutput) -> anyhow::Result<Flow> {
        let mut closed = Vec::new();
        let normalized = out.normalize(text, receive_time_us);
        let message = finnhub_message_of(text.as_bytes(), &normalized, |symbol, time_us| {
            if let Some((from_us, to_us)) = self.outages.trade(symbol, time_us) {
                closed.push((symbol.to_owned(), from_us, to_us));
            }
        });
        match message {
            FinnhubMessage::Ping => return Ok(Flow::Continue),
            FinnhubMessage::Error(message) => {
                self.counters.venue_errors.inc();
                tracing::error!(message, "Finnhub refused a request");
                return Ok(Flow::Continue);
            }
            // Unreadable frames go on for the producer to dead-letter; other types it ignores.
            FinnhubMessage::Trades | FinnhubMessage::Other | FinnhubMessage::Unreadable => {}
        }
        self.report(closed, out)?;
        out.hand_on(text, &normalized, receive_time_us)?;
        Ok(Flow::Continue)
    }

    fn disconnected(&mut self, _out: &ClientOutput) {
        self.outages.disconnected(&self.symbols);
    }

    /// Each symbol's time from its last delivered trade (or, if none is known, from when the
    /// previous run last delivered anything) to its next trade is reported, as after a reconnect.
    fn resume(&mut self, from: &VenueResume) {
        let latest = from.last_trades.iter().map(|(symbol, last)| (symbol.clone(), last.time_us));
        self.outages.resumed(latest, from.away_since_us);
    }

    fn stopped(&mut self, out: &ClientOutput) -> anyhow::Result<()> {
        let closed = self.outages.close_all(out.now_us());
        self.report(closed, out)
    }
}
