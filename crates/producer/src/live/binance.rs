//! Binance spot: combined `@trade` streams (no key), trade-id gaps backfilled over REST
//! (`GET /api/v3/historicalTrades?symbol=&fromId=&limit=1000`), the overlap after a reconnect
//! and duplicated frames dropped by trade id, `serverShutdown` answered by reconnecting. Ids a
//! failed backfill could not fetch are reported as missed (a `backfill_failed` feed gap with
//! the ids and the event times around them).

use std::collections::HashMap;
use std::time::Duration;

use super::rest::{HttpRest, Rest, request_line};
use super::secret::ApiKey;
use super::{ClientOutput, FeedCounters, Flow, Protocol, Trust};
use crate::capture::VenueEvent;
use crate::resume::VenueResume;
use tickflow_core::contract::{GapReason, Venue};
use tickflow_core::feed::{IdCheck, MissedTrades, RestRetries, RestStep, TradeIds};
use tickflow_core::venue::{BinanceEvent, BinanceRestTrade, binance_stream_path};

pub const DEFAULT_WS_URL: &str = "wss://stream.binance.com:9443";
pub const DEFAULT_REST_URL: &str = "https://api.binance.com";
/// Streams one connection may carry.
pub const STREAMS_PER_CONNECTION: usize = 1024;
const PAGE: u64 = 1000;
/// How long one REST call waits in all for rate limits and outages by default.
pub const DEFAULT_BACKFILL_BUDGET: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Binance {
    ws_url: String,
    symbols: Vec<String>,
    ids: TradeIds,
    rest: Box<dyn Rest>,
    api_key: ApiKey,
    backfill_budget: Duration,
    counters: FeedCounters,
    /// When the first connection opened (ms), and whether the client has reconnected since.
    started_ms: Option<i64>,
    reconnected: bool,
    /// Symbols whose trades while the client was away are not accounted for yet (the catch-up
    /// failed, or the symbol had not traded), as the report they become: a live trade of the
    /// symbol settles it by id; at stop what is left is reported, up to the stop.
    unconfirmed: HashMap<String, MissedTrades>,
}

impl Binance {
    /// A client of `symbols`' trade streams at `ws_url`, backfilling from `rest_url` with the
    /// certificates `trust` names.
    pub fn new(ws_url: &str, rest_url: &str, symbols: Vec<String>, trust: &Trust, counters: FeedCounters) -> Self {
        let rest = HttpRest::new(rest_url, trust, Duration::from_secs(30));
        Binance::with_rest(ws_url, Box::new(rest), symbols, counters)
    }

    /// A client whose REST calls go to `rest` (a replay's recorded answers).
    pub fn with_rest(ws_url: &str, rest: Box<dyn Rest>, symbols: Vec<String>, counters: FeedCounters) -> Self {
        Binance {
            ws_url: ws_url.trim_end_matches('/').to_owned(),
            symbols: symbols.iter().map(|s| s.to_uppercase()).collect(),
            ids: TradeIds::default(),
            rest,
            api_key: ApiKey::default(),
            backfill_budget: DEFAULT_BACKFILL_BUDGET,
            counters,
            started_ms: None,
            reconnected: false,
            unconfirmed: HashMap::new(),
        }
    }

    /// Sends `X-MBX-APIKEY` with every REST request (hosts that still want a key for
    /// `historicalTrades`; api.binance.com has not since 2023-07-11).
    pub fn with_api_key(mut self, key: ApiKey) -> Self {
        self.api_key = key;
        self
    }

    /// How long one REST call may wait in all for rate limits and outages before the trades it
    /// fetches are given up (and reported).
    pub fn with_backfill_budget(mut self, budget: Duration) -> Self {
        self.backfill_budget = budget;
        self
    }

    /// One page of trades of `symbol` from id `from` on, retried as [`RestRetries`] says; every
    /// answer is recorded as received.
    fn page(
        &mut self,
        symbol: &str,
        from: u64,
        limit: u64,
        out: &ClientOutput,
    ) -> anyhow::Result<Vec<BinanceRestTrade>> {
        const PATH: &str = "/api/v3/historicalTrades";
        let query = [("symbol", symbol.to_owned()), ("fromId", from.to_string()), ("limit", limit.to_string())];
        let mut retries = RestRetries::new(self.backfill_budget);
        loop {
            let key = self.api_key.expose();
            let headers: &[(&str, &str)] = if key.is_empty() { &[] } else { &[("X-MBX-APIKEY", key)] };
            let answer = self.rest.get(PATH, &query, headers);
            let error = answer.error.as_ref().map(|e| self.api_key.redact(e.clone()));
            out.at(answer.received_us.max(out.now_us())); // a replay's missing answer has no time
            out.record(|| VenueEvent::Rest {
                request: request_line(PATH, &query),
                status: answer.status,
                retry_after_s: answer.retry_after_s,
                body: answer.body.clone(),
                error: error.clone(),
            });
            let (status, retry_after) = (answer.status, answer.retry_after_s);
            let problem = match (status, error) {
                (Some(200..=299), None) => {
                    return serde_json::from_str(&answer.body).map_err(|e| {
                        anyhow::anyhow!("historicalTrades answered with something other than trades: {e}")
                    });
                }
                (Some(status), None) => format!("HTTP {status}"),
                (Some(status), Some(error)) => format!("HTTP {status}, body unreadable: {error}"),
                (None, error) => error.unwrap_or_default(),
            };
            match status {
                Some(429 | 418) => {
                    self.counters.rate_limited.inc();
                    tracing::warn!(symbol, status, retry_after_s = retry_after, "Binance rate-limits the backfill");
                }
                Some(401 | 403) => {
                    self.counters.venue_errors.inc();
                    tracing::error!(
                        symbol,
                        status,
                        "Binance refused the backfill: this host may want an API key (BINANCE_API_KEY), or refuses this key"
                    );
                    anyhow::bail!("Binance refused historicalTrades ({problem})");
                }
                _ => {}
            }
            let jitter = (out.now_us().rem_euclid(1_000)) as f64 / 1_000.0;
            match retries.after(status, retry_after, jitter) {
                RestStep::Retry(wait) => self.rest.pause(wait),
                RestStep::GiveUp => anyhow::bail!("historicalTrades failed ({problem}); retries exhausted"),
            }
        }
    }

    /// Sends the trades of `symbol` from id `from` to `to` (inclusive; `None`: up to the latest)
    /// that were not delivered before; each goes through the tracker, so live frames that repeat
    /// them are dropped. Returns how many were sent.
    fn backfill(&mut self, symbol: &str, mut from: u64, to: Option<u64>, out: &ClientOutput) -> anyhow::Result<u64> {
        let mut sent = 0;
        while to.is_none_or(|to| from <= to) {
            let limit = to.map_or(PAGE, |to| (to - from + 1).min(PAGE));
            let page = self.page(symbol, from, limit, out)?;
            let Some(last) = page.last().map(|t| t.id) else { break };
            for trade in page.iter().filter(|t| to.is_none_or(|to| t.id <= to)) {
                if self.ids.check(symbol, trade.id, trade.time.saturating_mul(1000)) == IdCheck::Repeated {
                    continue;
                }
                out.send(trade.stream_frame(symbol), out.now_us())?;
                sent += 1;
            }
            if (page.len() as u64) < limit {
                break;
            }
            from = last + 1;
        }
        self.counters.backfilled.inc_by(sent);
        Ok(sent)
    }
}

impl Binance {
    /// Backfills `from..=to` of `symbol`; what it could not fetch is reported as missed.
    fn fill_gap(&mut self, symbol: &str, from: u64, to: u64, out: &ClientOutput) -> anyhow::Result<()> {
        if let Err(error) = self.backfill(symbol, from, Some(to), out) {
            tracing::warn!(symbol, from, to, error = format!("{error:#}"), "cannot backfill a trade-id gap");
            for missing in self.ids.give_up(symbol, from, to) {
                out.missed(
                    MissedTrades::ids(Venue::Binance, symbol, GapReason::BackfillFailed, missing, out.now_us()),
                    &self.counters,
                )?;
            }
        }
        Ok(())
    }

    /// Reports the gaps given up because too many were open at once.
    fn report_given_up(&mut self, out: &ClientOutput) -> anyhow::Result<()> {
        for (symbol, missing) in self.ids.take_given_up() {
            out.missed(
                MissedTrades::ids(Venue::Binance, &symbol, GapReason::TooManyGaps, missing, out.now_us()),
                &self.counters,
            )?;
        }
        Ok(())
    }

    /// Sends the trades of `symbol` before id `first` made since the client started (one page).
    fn backfill_earlier(&mut self, symbol: &str, first: u64, out: &ClientOutput) -> anyhow::Result<()> {
        let started_ms = self.started_ms.unwrap_or(i64::MAX);
        let earlier = self.page(symbol, first.saturating_sub(PAGE), PAGE.min(first), out)?;
        let missed: Vec<_> = earlier.iter().filter(|t| t.id < first && t.time >= started_ms).collect();
        for trade in &missed {
            out.send(trade.stream_frame(symbol), out.now_us())?;
        }
        self.counters.backfilled.inc_by(missed.len() as u64);
        Ok(())
    }
}

impl Protocol for Binance {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    fn url(&self) -> String {
        format!("{}{}", self.ws_url, binance_stream_path(&self.symbols))
    }

    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    fn redact(&self, text: String) -> String {
        self.api_key.redact(text)
    }

    /// The venue pings every 20 s.
    fn watchdog(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// The streams are in the URL; what happened while away is fetched by id.
    fn connected(&mut self, out: &ClientOutput) -> anyhow::Result<Vec<String>> {
        self.reconnected = self.started_ms.is_some();
        self.started_ms.get_or_insert(out.now_us() / 1000);
        if !self.reconnected {
            return Ok(Vec::new());
        }
        let now = out.now_us();
        for symbol in self.symbols.clone() {
            let (from_us, reason) = match (self.ids.last(&symbol), self.ids.last_time_us(&symbol)) {
                (Some(last), Some(last_time_us)) => match self.backfill(&symbol, last + 1, None, out) {
                    Ok(_) => {
                        self.unconfirmed.remove(&symbol); // everything up to now is accounted for
                        continue;
                    }
                    Err(error) => {
                        // The symbol's next live trade shows the gap by id, and it is tried again then.
                        tracing::warn!(symbol, error = format!("{error:#}"), "cannot fetch the trades missed yet");
                        (last_time_us, GapReason::BackfillFailed)
                    }
                },
                _ => (self.started_ms.unwrap_or_default().saturating_mul(1000), GapReason::Disconnected),
            };
            // Open until the symbol's next trade settles it by id, or until the stop.
            let open = self.unconfirmed.entry(symbol.clone()).and_modify(|missed| missed.reason = reason);
            open.or_insert_with(|| MissedTrades::span(Venue::Binance, &symbol, reason, from_us, now, now));
        }
        self.report_given_up(out)?;
        Ok(Vec::new())
    }

    /// Until a reconnect's catch-up accounts for them, every symbol's trades from its latest
    /// delivered one on may be missing; a stop while away reports them.
    fn disconnected(&mut self, out: &ClientOutput) {
        let Some(started_ms) = self.started_ms else { return };
        let now = out.now_us();
        for symbol in &self.symbols {
            let from_us = self.ids.last_time_us(symbol).unwrap_or(started_ms.saturating_mul(1000));
            let open = self.unconfirmed.entry(symbol.clone());
            open.or_insert_with(|| {
                MissedTrades::span(Venue::Binance, symbol, GapReason::Disconnected, from_us, now, now)
            });
        }
    }

    /// Each symbol's last delivered id is where the first connection's backfill starts; symbols
    /// without one are fetched back to when the previous run last delivered anything.
    fn resume(&mut self, from: &VenueResume) {
        from.seed(&self.symbols, &mut self.ids);
        self.started_ms = Some(from.away_since_us / 1000);
    }

    fn stopped(&mut self, out: &ClientOutput) -> anyhow::Result<()> {
        let mut open: Vec<_> = self.unconfirmed.drain().map(|(_, missed)| missed).collect();
        open.sort_by(|a, b| a.venue_symbol.cmp(&b.venue_symbol));
        let now = out.now_us();
        for missed in open {
            // Trades may have been missed until now: the venue may not have streamed the
            // symbol again as soon as the connection was back.
            out.missed(MissedTrades { to_us: now, detected_at_us: now, ..missed }, &self.counters)?;
        }
        Ok(())
    }

    fn text(&mut self, text: &str, receive_time_us: i64, out: &ClientOutput) -> anyhow::Result<Flow> {
        let normalized = out.normalize(text, receive_time_us);
        let event = BinanceEvent::of(text.as_bytes(), &normalized);
        if let BinanceEvent::Trade { symbol, .. } = &event
            && !self.unconfirmed.is_empty()
        {
            self.unconfirmed.remove(symbol.as_ref());
        }
        match event {
            BinanceEvent::Trade { symbol, id, time_us } if self.reconnected && self.ids.last(&symbol).is_none() => {
                // The symbol's first trade since a reconnect: its earlier trades may have
                // happened while the client was away.
                if let Err(error) = self.backfill_earlier(&symbol, id, out) {
                    tracing::warn!(%symbol, error = format!("{error:#}"), "cannot fetch a symbol's earlier trades");
                    // How many, and from which id, nobody can tell.
                    let from_us = self.started_ms.unwrap_or_default().saturating_mul(1000);
                    let reason = GapReason::BackfillFailed;
                    let missed = MissedTrades::span(Venue::Binance, &symbol, reason, from_us, time_us, out.now_us());
                    out.missed(missed, &self.counters)?;
                }
                self.ids.check(&symbol, id, time_us);
            }
            BinanceEvent::Trade { symbol, id, time_us } => match self.ids.check(&symbol, id, time_us) {
                IdCheck::Repeated => {
                    self.counters.repeated.inc();
                    return Ok(Flow::Continue);
                }
                IdCheck::Gap { from, to } => {
                    self.counters.gaps.inc();
                    self.fill_gap(&symbol, from, to, out)?;
                    self.report_given_up(out)?;
                }
                IdCheck::First | IdCheck::Next | IdCheck::Filled => {}
            },
            BinanceEvent::ServerShutdown => return Ok(Flow::Reconnect("the venue announced maintenance")),
            BinanceEvent::Other => {}
        }
        out.hand_on(text, &normalized, receive_time_us)?;
        Ok(Flow::Continue)
    }
}
