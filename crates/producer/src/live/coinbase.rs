//! Coinbase Advanced Trade (no key for market data): `market_trades` and `heartbeats`, subscribed
//! right after connecting (the venue closes a connection without a subscription after 5 s).
//! Every message carries the connection's `sequence_num`: a repeated number is a duplicated
//! message (dropped), a skipped one means messages were lost, and the client reconnects, because
//! the snapshot that starts a new subscription carries the recent trades. Trades are tracked by
//! product and trade id, so the snapshot's overlap with what was already delivered is dropped;
//! ids older than a snapshot's oldest trade that are still missing are reported as missed (a
//! `beyond_snapshot` feed gap with the ids and the event times around them).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use tickflow_core::contract::{GapReason, Rejection, Trade, Venue};
use tickflow_core::feed::{IdCheck, MissedTrades, TradeIds};
use tickflow_core::venue::VenueFrame;

use super::{ClientOutput, FeedCounters, Flow, Protocol};
use crate::resume::VenueResume;

pub const DEFAULT_WS_URL: &str = "wss://advanced-trade-ws.coinbase.com";

#[derive(Debug)]
pub struct Coinbase {
    ws_url: String,
    products: Vec<String>,
    ids: TradeIds,
    sequence: Option<u64>,
    counters: FeedCounters,
    /// Since when (µs) a new subscription's snapshot is awaited: until it comes, what was
    /// missed while away is not recovered yet.
    awaiting_snapshot: Option<i64>,
    /// When the connection dropped, if no snapshot has come since.
    away_since_us: Option<i64>,
    /// Since when (µs) the client has resubscribed on the same connection after lost messages,
    /// and the products whose new snapshot has not come yet.
    resubscribed: Option<(i64, HashSet<String>)>,
}

/// How long (µs) a subscription's snapshot is waited for before the feed is released without it
/// (what it would have brought is then reported at the next snapshot, or at the stop).
const SNAPSHOT_WAIT_US: i64 = 10_000_000;

impl Coinbase {
    pub fn new(ws_url: &str, products: Vec<String>, counters: FeedCounters) -> Self {
        Coinbase {
            ws_url: ws_url.to_owned(),
            products,
            ids: TradeIds::default(),
            sequence: None,
            counters,
            awaiting_snapshot: None,
            away_since_us: None,
            resubscribed: None,
        }
    }

    /// The trades of a `market_trades` message that are updates only, none delivered before nor
    /// repeated within the message, as (product, id, time) in id order per product; `None`
    /// otherwise.
    fn only_new_updates<'m>(&self, view: &'m MessageView<'_>) -> Option<Vec<(&'m str, u64, i64)>> {
        if view.events.iter().any(|event| event.kind.as_deref() == Some("snapshot")) {
            return None;
        }
        let trades = view.events.iter().flat_map(|e| &e.trades);
        self.only_new(trades.filter_map(|t| Some((t.product_id.as_deref()?, t.id()?, t.time_us()))).collect())
    }

    /// An update's `trades` (product, id, time) in id order per product, if none was delivered
    /// before nor is repeated within the message. The venue lists an update's trades newest
    /// first, so order inside a message says nothing: a message is judged as a set.
    fn only_new<'m>(&self, mut trades: Vec<(&'m str, u64, i64)>) -> Option<Vec<(&'m str, u64, i64)>> {
        trades.sort_unstable_by_key(|&(product, id, _)| (product, id));
        let repeated_inside = trades.windows(2).any(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1));
        let delivered_before = trades.iter().any(|&(product, id, _)| self.ids.is_repeated(product, id));
        (!repeated_inside && !delivered_before).then_some(trades)
    }

    /// Checks a message's sequence number: `None` if it repeats one (the message is dropped),
    /// otherwise whether messages were lost before it.
    fn sequenced(&mut self, sequence: Option<u64>) -> Option<bool> {
        let Some(sequence) = sequence else { return Some(false) };
        let lost = match self.sequence {
            Some(last) if sequence <= last => {
                self.counters.repeated.inc();
                return None;
            }
            Some(last) if sequence > last + 1 => {
                self.counters.gaps.inc();
                true
            }
            _ => false,
        };
        self.sequence = Some(sequence);
        Some(lost)
    }

    /// Tracks the ids of an update's new trades: whether they show a trade-id gap.
    fn track(&mut self, new: Vec<(&str, u64, i64)>) -> bool {
        let mut gap = false;
        for (product, id, time_us) in new {
            gap |= matches!(self.ids.check(product, id, time_us), IdCheck::Gap { .. });
        }
        gap
    }

    /// Drops the trades of a `market_trades` message that were delivered before and puts a
    /// snapshot's (newest first from the venue) in id order. Returns whether the message changed,
    /// whether a trade-id gap showed, and each snapshot product's oldest trade id.
    fn new_trades(&mut self, message: &mut serde_json::Value) -> (bool, bool, HashMap<String, u64>) {
        let (mut changed, mut gap, mut oldest) = (false, false, HashMap::new());
        let Some(events) = message.get_mut("events").and_then(|e| e.as_array_mut()) else {
            return (false, false, oldest);
        };
        for event in events {
            let snapshot = event["type"] == "snapshot";
            let Some(trades) = event.get_mut("trades").and_then(|t| t.as_array_mut()) else { continue };
            let id = |t: &serde_json::Value| t["trade_id"].as_str().and_then(|i| i.parse::<u64>().ok());
            // Snapshots and updates list trades newest first: checked (and passed on) in id order.
            if !trades.is_sorted_by_key(&id) {
                trades.sort_by_key(|t| id(t));
                changed = true;
            }
            let before = trades.len();
            trades.retain(|trade| {
                let (Some(product), Some(trade_id)) = (trade["product_id"].as_str(), id(trade)) else { return true };
                if snapshot {
                    oldest.entry(product.to_owned()).or_insert(trade_id);
                }
                let time_us = trade["time"].as_str().map_or(0, time_us);
                match self.ids.check(product, trade_id, time_us) {
                    IdCheck::Repeated => false,
                    IdCheck::Gap { .. } => {
                        gap = true;
                        true
                    }
                    IdCheck::First | IdCheck::Next | IdCheck::Filled => true,
                }
            });
            self.counters.repeated.inc_by((before - trades.len()) as u64);
            changed |= trades.len() != before;
        }
        (changed, gap, oldest)
    }

    /// After a snapshot: what is still missing from before its oldest trade will not come back,
    /// and neither will gaps given up because too many were open.
    fn report_missed(&mut self, oldest: &HashMap<String, u64>, out: &ClientOutput) -> anyhow::Result<()> {
        let now = out.now_us();
        for (product, &oldest) in oldest {
            for missing in self.ids.give_up(product, 0, oldest.saturating_sub(1)) {
                let missed = MissedTrades::ids(Venue::Coinbase, product, GapReason::BeyondSnapshot, missing, now);
                out.missed(missed, &self.counters)?;
            }
        }
        for (product, missing) in self.ids.take_given_up() {
            out.missed(
                MissedTrades::ids(Venue::Coinbase, &product, GapReason::TooManyGaps, missing, now),
                &self.counters,
            )?;
        }
        Ok(())
    }
}

impl Coinbase {
    /// After lost messages: a new `market_trades` subscription on the same connection, whose
    /// snapshot brings the recent trades back (the overlap is dropped by id). The message that
    /// showed the loss was kept. If the snapshot does not come within `SNAPSHOT_WAIT_US`, the
    /// client reconnects instead.
    fn recover(&mut self, now_us: i64) -> Flow {
        match &self.resubscribed {
            Some((since, _)) if now_us - since < SNAPSHOT_WAIT_US => Flow::Continue, // already asked
            Some(_) => Flow::Reconnect("the venue sent no snapshot after a resubscription"),
            None => {
                self.counters.resubscriptions.inc();
                self.resubscribed = Some((now_us, self.products.iter().cloned().collect()));
                let message = |kind: &str| {
                    serde_json::json!({"type": kind, "product_ids": self.products, "channel": "market_trades"})
                        .to_string()
                };
                Flow::Send(vec![message("unsubscribe"), message("subscribe")])
            }
        }
    }

    /// A snapshot of `products` came: those are recovered.
    fn snapshot_came(&mut self, products: impl Iterator<Item = String>) {
        if let Some((_, waiting)) = &mut self.resubscribed {
            for product in products {
                waiting.remove(&product);
            }
            if waiting.is_empty() {
                self.resubscribed = None;
            }
        }
    }
}

impl Protocol for Coinbase {
    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    fn url(&self) -> String {
        self.ws_url.clone()
    }

    fn symbols(&self) -> &[String] {
        &self.products
    }

    /// The venue heartbeats every second.
    fn watchdog(&self) -> Duration {
        Duration::from_secs(3)
    }

    fn connected(&mut self, out: &ClientOutput) -> anyhow::Result<Vec<String>> {
        self.sequence = None;
        self.resubscribed = None;
        self.awaiting_snapshot = Some(out.now_us());
        let subscribe = |channel: &str| {
            serde_json::json!({"type": "subscribe", "product_ids": self.products, "channel": channel}).to_string()
        };
        Ok(vec![subscribe("heartbeats"), subscribe("market_trades")])
    }

    fn disconnected(&mut self, out: &ClientOutput) {
        self.awaiting_snapshot = None;
        self.away_since_us.get_or_insert(out.now_us());
    }

    /// The first subscription's snapshot is checked against each product's last delivered id:
    /// what it does not reach back to is reported, as after a reconnect.
    fn resume(&mut self, from: &VenueResume) {
        from.seed(&self.products, &mut self.ids);
        self.away_since_us = Some(from.away_since_us);
    }

    fn recovering(&self, now_us: i64) -> bool {
        self.awaiting_snapshot.is_some_and(|since| now_us - since < SNAPSHOT_WAIT_US)
    }

    /// What is still missing will not come back now; nor will what was traded while away, if
    /// no snapshot came since.
    fn stopped(&mut self, out: &ClientOutput) -> anyhow::Result<()> {
        let now = out.now_us();
        if let Some(away_since_us) = self.away_since_us.take() {
            for product in &self.products {
                let from_us = self.ids.last_time_us(product).unwrap_or(away_since_us);
                let missed = MissedTrades::span(Venue::Coinbase, product, GapReason::Disconnected, from_us, now, now);
                out.missed(missed, &self.counters)?;
            }
        }
        for product in self.products.clone() {
            for missing in self.ids.give_up(&product, 0, u64::MAX) {
                out.missed(
                    MissedTrades::ids(Venue::Coinbase, &product, GapReason::Stopped, missing, now),
                    &self.counters,
                )?;
            }
        }
        Ok(())
    }

    fn text(&mut self, text: &str, receive_time_us: i64, out: &ClientOutput) -> anyhow::Result<Flow> {
        let normalized = out.normalize(text, receive_time_us);
        // The common messages are read from what was normalized: heartbeats, and updates whose
        // trades were all accepted and none delivered before. Anything else is read again.
        let lost = match &normalized {
            Ok(VenueFrame::Heartbeat { sequence }) => self.sequenced(*sequence),
            Ok(VenueFrame::Trades { trades, sequence, snapshot: false }) => {
                let Some(new) = accepted_ids(trades).and_then(|ids| self.only_new(ids)) else {
                    return self.read_again(text, receive_time_us, out);
                };
                let Some(lost) = self.sequenced(*sequence) else { return Ok(Flow::Continue) };
                let gap = self.track(new);
                if !trades.is_empty() {
                    out.hand_on(text, &normalized, receive_time_us)?;
                }
                Some(lost | gap)
            }
            _ => return self.read_again(text, receive_time_us, out),
        };
        // A skipped sequence number may have been a heartbeat or a trade update, and a trade-id
        // gap shows trades were lost: a new subscription's snapshot brings the recent trades back.
        Ok(if lost == Some(true) { self.recover(receive_time_us) } else { Flow::Continue })
    }
}

impl Coinbase {
    /// A message read on its own: a snapshot, an update with trades delivered before or
    /// rejected, a venue error, or a frame that is not what it should be (handed on for the
    /// producer to dead-letter).
    fn read_again(&mut self, text: &str, receive_time_us: i64, out: &ClientOutput) -> anyhow::Result<Flow> {
        let Ok(view) = serde_json::from_str::<MessageView<'_>>(text) else {
            out.send(text.to_owned(), receive_time_us)?;
            return Ok(Flow::Continue);
        };
        let Some(mut lost) = self.sequenced(view.sequence_num) else { return Ok(Flow::Continue) };
        let new_updates = match view.channel.as_deref() {
            Some("market_trades") => self.only_new_updates(&view),
            _ => None,
        };
        if let Some(trades) = new_updates {
            // Nothing to drop, so the frame goes on as received.
            lost |= self.track(trades);
            if view.events.iter().any(|e| !e.trades.is_empty()) {
                out.send(text.to_owned(), receive_time_us)?;
            }
        } else if view.channel.as_deref() == Some("market_trades") {
            let mut message: serde_json::Value = serde_json::from_str(text)?;
            let (changed, gap, oldest) = self.new_trades(&mut message);
            lost |= gap && message["events"][0]["type"] != "snapshot";
            let empty = message["events"]
                .as_array()
                .is_some_and(|e| e.iter().all(|e| e["trades"].as_array().is_none_or(|t| t.is_empty())));
            if !empty {
                out.send(if changed { message.to_string() } else { text.to_owned() }, receive_time_us)?;
            }
            self.report_missed(&oldest, out)?;
            if view.events.iter().any(|e| e.kind.as_deref() == Some("snapshot")) {
                (self.awaiting_snapshot, self.away_since_us) = (None, None); // the snapshot covers the time away
                self.snapshot_came(oldest.into_keys());
            }
        } else if view.kind.as_deref() == Some("error") {
            tracing::warn!(message = view.message.as_deref().unwrap_or_default(), "Coinbase reported an error");
            return Ok(Flow::Reconnect("the venue reported an error"));
        }
        Ok(if lost { self.recover(receive_time_us) } else { Flow::Continue })
    }
}

/// The (product, id, time) of an update's trades if all of them were accepted; trade ids that are
/// not numbers are not tracked.
fn accepted_ids<'m>(trades: &'m [Result<Trade<'_>, Rejection>]) -> Option<Vec<(&'m str, u64, i64)>> {
    let mut ids = Vec::with_capacity(trades.len());
    for trade in trades {
        let trade = trade.as_ref().ok()?;
        if let Some(id) = trade.trade_id.as_deref().and_then(|id| id.parse().ok()) {
            ids.push((trade.venue_symbol.as_ref(), id, trade.event_time_us));
        }
    }
    Some(ids)
}

/// What the client reads of a message: no more than it needs, borrowed from the frame.
#[derive(Deserialize)]
struct MessageView<'a> {
    sequence_num: Option<u64>,
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    events: Vec<EventView<'a>>,
}

#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    trades: Vec<TradeView<'a>>,
}

#[derive(Deserialize)]
struct TradeView<'a> {
    #[serde(borrow)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trade_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
}

impl TradeView<'_> {
    fn id(&self) -> Option<u64> {
        self.trade_id.as_deref().and_then(|id| id.parse().ok())
    }

    fn time_us(&self) -> i64 {
        self.time.as_deref().map_or(0, time_us)
    }
}

/// An RFC 3339 time in microseconds since the epoch; 0 when it is not one.
fn time_us(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).map_or(0, |t| t.timestamp_micros())
}
