//! Replaying what live clients recorded. Each recorded client gets a fresh protocol of its venue,
//! and its connection's events go through the same functions as live ([`on_connected`],
//! [`on_text`], [`on_disconnected`], [`on_stopped`]), at their recorded times; the REST calls the
//! protocol makes are answered with the answers recorded right after the event that made them.
//! So a replay hands on what the client handed on: the same frames, reports and statuses.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickflow_core::contract::Venue;
use tickflow_core::reference::ReferenceData;
use tickflow_service::metrics::ServiceMetrics;

use super::rest::{Rest, RestAnswer, request_line};
use super::{
    ClientOutput, Closed, FeedCounters, Link, Protocol, binance, coinbase, finnhub, on_connected, on_disconnected,
    on_stopped, on_text,
};
use crate::capture::{CaptureLine, Tap, VenueEvent, VenueRecord};
use crate::source::Received;

/// Capture lines in order, with a look ahead for the REST answers of one client: those follow
/// the event that asked for them, possibly after other clients' events.
pub struct Lookahead {
    lines: Box<dyn Iterator<Item = CaptureLine> + Send>,
    pending: VecDeque<CaptureLine>,
    /// Where every line read goes again (a capture of the replay), as read.
    tap: Tap,
}

impl Lookahead {
    pub fn new(lines: Box<dyn Iterator<Item = CaptureLine> + Send>, tap: Tap) -> Self {
        Lookahead { lines, pending: VecDeque::new(), tap }
    }

    fn read(&mut self) -> Option<CaptureLine> {
        let line = self.lines.next()?;
        self.tap.record(|| line.clone());
        Some(line)
    }

    /// The next line not taken yet.
    pub fn next_line(&mut self) -> Option<CaptureLine> {
        self.pending.pop_front().or_else(|| self.read())
    }

    /// The REST answer `venue`'s client `client` recorded next, if it comes before that client's
    /// next other event.
    fn rest_answer(&mut self, venue: Venue, client: u32) -> Option<VenueRecord> {
        let of_client =
            |line: &CaptureLine| matches!(line, CaptureLine::Venue(r) if (r.venue, r.client) == (venue, client));
        let is_rest =
            |line: &CaptureLine| matches!(line, CaptureLine::Venue(VenueRecord { event: VenueEvent::Rest { .. }, .. }));
        let take = |line: CaptureLine| match line {
            CaptureLine::Venue(record) => Some(record),
            CaptureLine::Source(_) => None,
        };
        if let Some(at) = self.pending.iter().position(of_client) {
            return if is_rest(&self.pending[at]) { self.pending.remove(at).and_then(take) } else { None };
        }
        while let Some(line) = self.read() {
            if of_client(&line) {
                if is_rest(&line) {
                    return take(line);
                }
                self.pending.push_back(line);
                return None;
            }
            self.pending.push_back(line);
        }
        None
    }
}

/// A client's REST API on replay: the answers it recorded.
#[derive(Debug)]
struct RecordedRest {
    lookahead: Arc<Mutex<Lookahead>>,
    venue: Venue,
    client: u32,
}

impl std::fmt::Debug for Lookahead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookahead").field("pending", &self.pending.len()).finish()
    }
}

impl Rest for RecordedRest {
    fn get(&mut self, path: &str, query: &[(&str, String)], _headers: &[(&str, &str)]) -> RestAnswer {
        let asked = request_line(path, query);
        let recorded = self.lookahead.lock().map(|mut l| l.rest_answer(self.venue, self.client)).unwrap_or(None);
        match recorded {
            Some(VenueRecord {
                at_us,
                event: VenueEvent::Rest { request, status, retry_after_s, body, error },
                ..
            }) => {
                if request != asked {
                    tracing::warn!(venue = ?self.venue, asked, recorded = request, "the replay asks another request than was recorded");
                }
                RestAnswer { status, retry_after_s, body, error, received_us: at_us }
            }
            _ => RestAnswer {
                status: None,
                retry_after_s: None,
                body: String::new(),
                error: Some(format!("the capture holds no answer to {asked}")),
                received_us: i64::MIN,
            },
        }
    }

    fn pause(&mut self, _wait: Duration) {}
}

struct Replayed {
    protocol: Box<dyn Protocol + Send>,
    out: ClientOutput,
    link: Link,
    stopped: bool,
}

/// The recorded clients of a capture, replayed; in the order they first appear (`None`: one
/// that cannot be replayed).
pub struct Replay {
    clients: Vec<((Venue, u32), Option<Replayed>)>,
    frames: std::sync::mpsc::SyncSender<Received>,
    reference: ReferenceData,
    metrics: ServiceMetrics,
    lookahead: Arc<Mutex<Lookahead>>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").field("clients", &self.clients.len()).finish()
    }
}

impl Replay {
    pub fn new(
        frames: std::sync::mpsc::SyncSender<Received>,
        reference: ReferenceData,
        metrics: ServiceMetrics,
        lookahead: Arc<Mutex<Lookahead>>,
    ) -> Self {
        Replay { clients: Vec::new(), frames, reference, metrics, lookahead }
    }

    fn client(&self, venue: Venue, client: u32, symbols: Vec<String>) -> Option<Replayed> {
        let counters = FeedCounters::new(&self.metrics, venue.as_str());
        let protocol: Box<dyn Protocol + Send> = match venue {
            Venue::Binance => {
                let rest = RecordedRest { lookahead: self.lookahead.clone(), venue, client };
                Box::new(binance::Binance::with_rest("", Box::new(rest), symbols, counters))
            }
            Venue::Coinbase => Box::new(coinbase::Coinbase::new("", symbols, counters)),
            Venue::Finnhub => match finnhub::Finnhub::new("", finnhub::ApiKey::default(), symbols, counters) {
                Ok(client) => Box::new(client),
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "cannot replay a Finnhub client; its records are skipped"
                    );
                    return None;
                }
            },
        };
        let out = ClientOutput::new(venue, &self.reference, self.frames.clone()).recording(client, Tap::none());
        Some(Replayed { protocol, out, link: Link::default(), stopped: false })
    }

    /// Replays one recorded event.
    pub fn handle(&mut self, record: VenueRecord) -> Result<(), Closed> {
        let VenueRecord { venue, client, at_us, event } = record;
        let at = match self.clients.iter().position(|(key, _)| *key == (venue, client)) {
            Some(at) => at,
            None => {
                let symbols = match &event {
                    VenueEvent::Connected { symbols } => symbols.clone(),
                    _ => Vec::new(), // a capture file cut from the middle of a run
                };
                let replayed = self.client(venue, client, symbols);
                self.clients.push(((venue, client), replayed));
                self.clients.len() - 1
            }
        };
        let Some(replayed) = &mut self.clients[at].1 else { return Ok(()) };
        let Replayed { protocol, out, link, stopped } = replayed;
        let handled = match event {
            VenueEvent::Resumed { from } => {
                protocol.resume(&from);
                Ok(())
            }
            VenueEvent::Connected { .. } => on_connected(protocol.as_mut(), out, link, at_us).map(drop),
            VenueEvent::Text { text } => on_text(protocol.as_mut(), out, link, &text, at_us).map(drop),
            VenueEvent::Disconnected { reason } => Ok(on_disconnected(protocol.as_mut(), out, link, reason, at_us)?),
            VenueEvent::Stopped => {
                on_stopped(protocol.as_mut(), out, link, at_us);
                *stopped = true;
                Ok(())
            }
            VenueEvent::Rest { request, .. } => {
                tracing::warn!(venue = ?venue, request, "a recorded REST answer the replayed client did not ask for");
                Ok(())
            }
            VenueEvent::Control { .. } | VenueEvent::Sent { .. } => Ok(()),
        };
        match handled {
            Err(error) if error.is::<Closed>() => Err(Closed),
            // Live, the error ended the connection: its `disconnected` record follows.
            _ => Ok(()),
        }
    }

    /// Stops the clients whose stop the capture does not hold (it ended first), at `at_us`.
    pub fn finish(&mut self, at_us: i64) {
        for replayed in self.clients.iter_mut().filter_map(|(_, r)| r.as_mut()).filter(|r| !r.stopped) {
            on_stopped(replayed.protocol.as_mut(), &replayed.out, &mut replayed.link, at_us);
            replayed.stopped = true;
        }
    }
}
