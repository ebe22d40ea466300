//! Where the venue clients pick up after a restart.
//!
//! A producer that stopped (or was killed) lost what it knew of each feed: the last trade it
//! delivered of every symbol. `raw_trades` still knows: its tail holds the last trades that
//! reached Kafka. Read back at start, they make the clients' first connection a reconnect: the
//! Binance client backfills each symbol from its last delivered id, the Coinbase client checks
//! the subscription's snapshot against the last delivered ids and reports what it cannot cover,
//! and the Finnhub client reports each symbol's time from its last delivered trade to its next
//! one. A trade that was received but never reached Kafka before the stop is then recovered or
//! reported like any other missed trade, never skipped silently.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tickflow_core::contract::Venue;
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_core::feed::TradeIds;
use tickflow_kafka::headers::RecordKind;
use tickflow_kafka::{KafkaArgs, KafkaRecord, OwnedRecord, consumer};

/// A symbol's last trade in `raw_trades`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastTrade {
    /// The venue's trade id, where it numbers its trades.
    pub id: Option<u64>,
    pub time_us: i64,
}

/// What one venue's client resumes from: each symbol's last delivered trade, and when the
/// previous run last delivered anything of the venue (trades after it may be missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueResume {
    pub last_trades: HashMap<String, LastTrade>,
    pub away_since_us: i64,
}

impl VenueResume {
    /// Marks each of `symbols`' last delivered id as seen in `ids` (a client's id tracker), so
    /// the first connection's trades after it are checked as after a reconnect.
    pub fn seed(&self, symbols: &[String], ids: &mut TradeIds) {
        for symbol in symbols {
            if let Some(LastTrade { id: Some(id), time_us }) = self.last_trades.get(symbol) {
                ids.check(symbol, *id, *time_us);
            }
        }
    }
}

/// Resume points of every venue, gathered from `raw_trades` records.
#[derive(Debug, Clone, Default)]
pub struct ResumePoints {
    venues: HashMap<Venue, VenueResume>,
}

#[derive(Deserialize)]
struct TradeView<'a> {
    venue: &'a str,
    venue_symbol: String,
    #[serde(default)]
    trade_id: Option<&'a str>,
    event_time_us: i64,
    receive_time_us: i64,
}

impl ResumePoints {
    /// Takes in one `raw_trades` record's value (a trade; anything unreadable is ignored: the
    /// stream-processor dead-letters it).
    pub fn add(&mut self, payload: &[u8]) {
        let Ok(trade) = serde_json::from_slice::<TradeView<'_>>(payload) else { return };
        let Some(venue) = Venue::ALL.into_iter().find(|v| v.as_str() == trade.venue) else { return };
        let resume = self.venues.entry(venue).or_default();
        resume.away_since_us = resume.away_since_us.max(trade.receive_time_us);
        let id = trade.trade_id.and_then(|id| id.parse::<u64>().ok());
        let candidate = LastTrade { id, time_us: trade.event_time_us };
        let later = |known: &LastTrade| match (candidate.id, known.id) {
            (Some(new), Some(old)) => new > old,
            _ => candidate.time_us > known.time_us,
        };
        match resume.last_trades.get_mut(&trade.venue_symbol) {
            Some(known) if later(known) => *known = candidate,
            Some(_) => {}
            None => {
                resume.last_trades.insert(trade.venue_symbol, candidate);
            }
        }
    }

    /// Takes in the points of another part of `raw_trades` (symbols are in one partition each).
    fn merge(&mut self, other: ResumePoints) {
        for (venue, resume) in other.venues {
            let mine = self.venues.entry(venue).or_default();
            mine.away_since_us = mine.away_since_us.max(resume.away_since_us);
            mine.last_trades.extend(resume.last_trades);
        }
    }

    /// The venue's resume point; `None` when `raw_trades` had nothing of it (a first start).
    pub fn venue(&self, venue: Venue) -> Option<&VenueResume> {
        self.venues.get(&venue)
    }

    /// Drops the venues last delivered before `oldest_us`; returns them with that time.
    pub fn forget_older_than(&mut self, oldest_us: i64) -> Vec<(Venue, i64)> {
        let mut forgotten: Vec<(Venue, i64)> = self
            .venues
            .iter()
            .filter(|(_, resume)| resume.away_since_us < oldest_us)
            .map(|(venue, resume)| (*venue, resume.away_since_us))
            .collect();
        forgotten.sort_by_key(|(venue, _)| venue.as_str());
        for (venue, _) in &forgotten {
            self.venues.remove(venue);
        }
        forgotten
    }

    /// How many symbols have a last trade, over all venues.
    pub fn symbols(&self) -> usize {
        self.venues.values().map(|v| v.last_trades.len()).sum()
    }
}

/// Reads the last `per_partition` records of each of `raw_trades`' `partitions` partitions.
/// A symbol whose last trade lies further back resumes like one that never traded. A broker that
/// has just started (partition leaders not elected yet) is asked again for up to a minute.
pub fn read(args: &KafkaArgs, partitions: i32, per_partition: i64) -> anyhow::Result<ResumePoints> {
    let mut points = ResumePoints::default();
    for partition in 0..partitions {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut read = ResumePoints::default();
            let outcome = consumer::read_tail(
                args,
                RAW_TRADES,
                partition,
                per_partition,
                Duration::from_secs(30),
                &mut |record| take(&mut read, &record),
            );
            match outcome {
                Ok(()) => {
                    points.merge(read);
                    break;
                }
                Err(error) if error.is_transient() && Instant::now() < deadline => {
                    tracing::warn!(partition, %error, "reading the end of raw_trades again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(points)
}

fn take(points: &mut ResumePoints, record: &OwnedRecord) {
    if record.kind() == RecordKind::Trade {
        points.add(record.payload());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(venue: &str, symbol: &str, id: Option<&str>, time_us: i64, receive_time_us: i64) -> Vec<u8> {
        serde_json::json!({"venue": venue, "venue_symbol": symbol, "trade_id": id, "event_time_us": time_us,
                           "receive_time_us": receive_time_us, "price": "1", "size": "1"})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn each_symbol_resumes_after_its_highest_id_or_latest_time() {
        let mut points = ResumePoints::default();
        points.add(&trade("binance", "BTCUSDT", Some("12"), 5_000, 9_000));
        points.add(&trade("binance", "BTCUSDT", Some("10"), 6_000, 9_500)); // a backfilled older trade, sent later
        points.add(&trade("binance", "ETHUSDT", Some("7"), 4_000, 8_000));
        points.add(&trade("finnhub", "AAPL", None, 3_000, 3_100));
        points.add(&trade("finnhub", "AAPL", None, 2_000, 3_200));
        points.add(b"not a trade");
        let binance = points.venue(Venue::Binance).expect("binance");
        assert_eq!(binance.last_trades["BTCUSDT"], LastTrade { id: Some(12), time_us: 5_000 });
        assert_eq!(binance.last_trades["ETHUSDT"], LastTrade { id: Some(7), time_us: 4_000 });
        assert_eq!(binance.away_since_us, 9_500);
        let finnhub = points.venue(Venue::Finnhub).expect("finnhub");
        assert_eq!(finnhub.last_trades["AAPL"], LastTrade { id: None, time_us: 3_000 });
        assert_eq!(finnhub.away_since_us, 3_200);
        assert!(points.venue(Venue::Coinbase).is_none());
        assert_eq!(points.symbols(), 3);
        assert_eq!(points.forget_older_than(5_000), vec![(Venue::Finnhub, 3_200)], "a stop too long ago");
        assert!(points.venue(Venue::Finnhub).is_none() && points.venue(Venue::Binance).is_some());
    }
}
