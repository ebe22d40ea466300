//! Live venue clients: one WebSocket connection loop shared by every venue, and per venue a
//! [`Protocol`] saying what to connect to, what to do once connected and what each text frame
//! means. The loop answers pings (tungstenite replies to every ping on the next read), refuses
//! frames over the size limit, reconnects when the venue goes silent for longer than the
//! watchdog, before the venue's connection age limit, and after any error, waiting a capped,
//! fully jittered exponential backoff between attempts. What a connection sees goes through
//! [`on_connected`], [`on_text`], [`on_disconnected`] and [`on_stopped`], which record it to the
//! capture and hand it to the protocol; a replay ([`replay`]) calls the same functions with the
//! recorded events, so it reproduces what the client made of them.
//!
//! Every client is a task on one tokio runtime ([`venue_runtime`]), so a venue's symbol set may
//! open as many connections as it needs (Binance: one per 1 024 streams) without a thread each.
//! The protocols stay synchronous and pure; what in them blocks (a REST backfill, a full frames
//! channel) runs through [`blocking`], which frees the runtime's worker meanwhile.

pub mod binance;
pub mod coinbase;
pub mod finnhub;
pub mod replay;
pub mod rest;
pub mod secret;
pub mod trust;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use crate::resume::VenueResume;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use prometheus_client::metrics::counter::Counter;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardUniform};
use tickflow_core::contract::{Rejection, Venue};
use tickflow_core::feed::{Backoff, MissedTrades, Retries};
use tickflow_core::reference::ReferenceData;
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::now_us;
use tickflow_service::shutdown::Shutdown;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tungstenite::Message;
use tungstenite::protocol::WebSocketConfig;

use crate::capture::{CaptureLine, Tap, VenueEvent, VenueRecord};
use crate::records::TradeRecords;
use crate::source::{FeedStatus, Frame, Received};
pub use trust::Trust;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The runtime every live client runs on: a few worker threads for any number of connections.
pub fn venue_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("venues").enable_all().build()
}

/// Runs `work`, which may block (an HTTP request, a full channel), without holding up the other
/// connections: on the venue runtime its worker is handed over meanwhile; elsewhere (a replay,
/// a test) it simply runs.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// How long a connection may stay silent, how it backs off, and its limits.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Reconnect after this long without any frame; `None`: the venue's own default
    /// ([`Protocol::watchdog`], about three of its heartbeat or ping periods).
    pub watchdog: Option<Duration>,
    pub backoff: Backoff,
    pub max_frame_bytes: usize,
    /// Reconnect, planned, before a connection gets this old (Binance cuts at 24 h).
    pub max_connection_age: Duration,
    /// The certificates `wss://` connections trust.
    pub trust: Trust,
}

/// What the loop does after a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Send these text messages to the venue on the same connection, then go on.
    Send(Vec<String>),
    Reconnect(&'static str),
}

/// Counters of one venue's connections, in `/metrics` as `tickflow_events_total{name="<venue>_..."}`.
#[derive(Debug, Clone)]
pub struct FeedCounters {
    pub connects: Counter,
    pub reconnects: Counter,
    pub silent: Counter,
    pub refused_frames: Counter,
    pub repeated: Counter,
    pub gaps: Counter,
    pub backfilled: Counter,
    pub unrecovered: Counter,
    pub venue_errors: Counter,
    /// REST answers that said "too many requests" (HTTP 429) or "banned for now" (418).
    pub rate_limited: Counter,
    /// New subscriptions on the same connection to recover lost messages.
    pub resubscriptions: Counter,
}

impl FeedCounters {
    pub fn new(metrics: &ServiceMetrics, venue: &str) -> Self {
        let named = |what: &str| ServiceMetrics::named(&metrics.events, &format!("{venue}_{what}"));
        FeedCounters {
            connects: named("connects"),
            reconnects: named("reconnects"),
            silent: named("watchdog_timeouts"),
            refused_frames: named("refused_frames"),
            repeated: named("repeated_trades"),
            gaps: named("gaps"),
            backfilled: named("backfilled_trades"),
            unrecovered: named("unrecovered_gaps"),
            venue_errors: named("venue_errors"),
            rate_limited: named("rate_limited"),
            resubscriptions: named("resubscriptions"),
        }
    }
}

/// The symbols a venue's client follows when none are asked for: every symbol the venue has in
/// the reference data; for Finnhub only instruments no exchange feed covers (crypto comes from
/// the exchanges themselves).
pub fn default_symbols(reference: &ReferenceData, venue: Venue) -> Vec<String> {
    let followed = |i: &&tickflow_core::reference::Instrument| {
        venue != Venue::Finnhub || i.venue_symbols.iter().all(|(v, _)| *v == Venue::Finnhub)
    };
    let listed = reference.instruments().iter().filter(followed).flat_map(|i| i.venue_symbols.iter());
    listed.filter(|(v, _)| *v == venue).map(|(_, symbol)| symbol.to_string()).collect()
}

/// Where a protocol's frames and missed trades go (the producer's one channel), where its
/// connection's events are recorded (the capture, if on), and the time of the event at hand.
#[derive(Debug)]
pub struct ClientOutput {
    venue: Venue,
    client: u32,
    frames: SyncSender<Received>,
    tap: Tap,
    now_us: AtomicI64,
    /// What frames are normalized against, as the publisher would.
    reference: ReferenceData,
    rules: ValidationRules,
}

#[derive(Debug, thiserror::Error)]
#[error("the producer stopped taking frames")]
pub struct Closed;

impl ClientOutput {
    /// Where `venue`'s client puts what it received, normalized against `reference`.
    pub fn new(venue: Venue, reference: &ReferenceData, frames: SyncSender<Received>) -> Self {
        ClientOutput {
            venue,
            client: 0,
            frames,
            tap: Tap::none(),
            now_us: AtomicI64::new(0),
            reference: reference.clone(),
            rules: ValidationRules::default(),
        }
    }

    /// Records the connection's events as client `client` of the venue into `tap`.
    pub fn recording(self, client: u32, tap: Tap) -> Self {
        ClientOutput { client, tap, ..self }
    }

    /// The time of the event being handled (a frame's receive time, a REST answer's, a
    /// connection's end): protocols take their times from here, so a replay gives the same.
    pub fn now_us(&self) -> i64 {
        self.now_us.load(Ordering::Relaxed)
    }

    /// The event at hand happened at `at_us`.
    pub fn at(&self, at_us: i64) {
        self.now_us.store(at_us, Ordering::Relaxed);
    }

    /// Records `event` of this client's connection, at the current time.
    pub fn record(&self, event: impl FnOnce() -> VenueEvent) {
        self.tap.record(|| {
            CaptureLine::Venue(VenueRecord {
                venue: self.venue,
                client: self.client,
                at_us: self.now_us(),
                event: event(),
            })
        });
    }

    /// Hands on a frame as it is, for the publisher to normalize (frames a client made itself,
    /// or changed).
    pub fn send(&self, frame: String, receive_time_us: i64) -> Result<(), Closed> {
        self.deliver(Received::Frame(Frame::new(self.venue, receive_time_us, frame)))
    }

    /// Normalizes a frame received at `receive_time_us` as the publisher does; what a client
    /// tracks is read from the result, so the frame is parsed once.
    pub fn normalize<'a>(&'a self, text: &'a str, receive_time_us: i64) -> Result<VenueFrame<'a>, Rejection> {
        let context = NormalizeContext { reference: &self.reference, rules: &self.rules, receive_time_us };
        normalize(self.venue, text.as_bytes(), &context)
    }

    /// Hands on a frame the client read as `normalized`: when every trade in it was accepted,
    /// with their `raw_trades` records, which the publisher sends as they are.
    pub fn hand_on(
        &self,
        text: &str,
        normalized: &Result<VenueFrame<'_>, Rejection>,
        receive_time_us: i64,
    ) -> Result<(), Closed> {
        let records = match normalized {
            Ok(VenueFrame::Trades { trades, .. }) => TradeRecords::encode(trades),
            _ => None,
        };
        let frame = Frame { records, ..Frame::new(self.venue, receive_time_us, text.to_owned()) };
        self.deliver(Received::Frame(frame))
    }

    /// Reports trades the client gave up on; logged, and counted as unrecovered.
    pub fn missed(&self, missed: MissedTrades, counters: &FeedCounters) -> Result<(), Closed> {
        counters.unrecovered.inc();
        tracing::warn!(
            venue = missed.venue.as_str(),
            symbol = missed.venue_symbol,
            reason = missed.reason.as_str(),
            from_us = missed.from_us,
            to_us = missed.to_us,
            ids = ?missed.ids,
            "trades missed and not recoverable; a feed gap record goes to raw_trades"
        );
        self.deliver(Received::Missed { missed })
    }

    /// Says whether the feed is held (its connection dropped; it may be missing trades until
    /// it recovers) or complete again.
    pub fn status(&self, held: bool) -> Result<(), Closed> {
        let status = FeedStatus { venue: self.venue, held, at_us: self.now_us() };
        self.deliver(Received::Status { status })
    }

    /// Hands `received` to the producer; waits (see [`blocking`]) while its channel is full.
    fn deliver(&self, received: Received) -> Result<(), Closed> {
        match self.frames.try_send(received) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(received)) => blocking(|| self.frames.send(received)).map_err(|_| Closed),
            Err(TrySendError::Disconnected(_)) => Err(Closed),
        }
    }
}

/// One venue's side of the connection loop.
pub trait Protocol {
    fn venue(&self) -> Venue;
    fn url(&self) -> String;
    /// The symbols (products) the client follows.
    fn symbols(&self) -> &[String];
    /// How long the venue may stay silent before the connection is taken for dead: about three
    /// of its heartbeat or ping periods.
    fn watchdog(&self) -> Duration;
    /// Right after the handshake: recover what was missed while away; returns the messages to
    /// send (subscriptions).
    fn connected(&mut self, out: &ClientOutput) -> anyhow::Result<Vec<String>>;
    /// A text frame, received at `receive_time_us`.
    fn text(&mut self, text: &str, receive_time_us: i64, out: &ClientOutput) -> anyhow::Result<Flow>;
    /// The connection ended (dropped, refused, closed or failed): from now on trades may be
    /// missed until the client recovers them, or reports them at its stop.
    fn disconnected(&mut self, _out: &ClientOutput) {}
    /// Whether the client is still recovering, at `now_us`, what it missed while away (after
    /// `connected` returned): while it is, its feed stays held.
    fn recovering(&self, _now_us: i64) -> bool {
        false
    }
    /// The client stops: report what is still open.
    fn stopped(&mut self, _out: &ClientOutput) -> anyhow::Result<()> {
        Ok(())
    }
    /// Before the first connection: the previous run's last delivered trades (read back from
    /// `raw_trades`), so that the first connection recovers or reports what was missed since,
    /// as a reconnect does.
    fn resume(&mut self, _from: &VenueResume) {}
    /// `text` without the secrets this protocol puts in its URL or messages.
    fn redact(&self, text: String) -> String {
        text
    }
}

enum End {
    Stop,
    Reconnect(&'static str),
}

/// Connects, reads and reconnects until shutdown or until the producer stops taking frames,
/// handing on and recording through `out`.
pub async fn run_recorded(
    mut protocol: impl Protocol + Send,
    options: LiveOptions,
    out: ClientOutput,
    shutdown: Shutdown,
    counters: FeedCounters,
) {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut jitter = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let mut retries = Retries::default();
    let mut link = Link { held: false, healthy: false };
    while !shutdown.requested() {
        link.healthy = false;
        let reason = match session(&mut protocol, &options, &out, &shutdown, &counters, &mut link).await {
            Ok(End::Stop) => break,
            Ok(End::Reconnect(reason)) => {
                tracing::info!(venue = ?out.venue, reason, "reconnecting");
                reason.to_owned()
            }
            Err(error) if error.is::<Closed>() => return,
            Err(error) => {
                let error = protocol.redact(format!("{error:#}"));
                tracing::warn!(venue = ?out.venue, error, "connection failed");
                error
            }
        };
        if on_disconnected(&mut protocol, &out, &mut link, reason, now_us()).is_err() {
            return;
        }
        counters.reconnects.inc();
        let wait = retries.after_session(link.healthy, &options.backoff, StandardUniform.sample(&mut jitter));
        let until = Instant::now() + wait;
        while Instant::now() < until && !shutdown.requested() {
            tokio::time::sleep(Duration::from_millis(20).min(until - Instant::now())).await;
        }
    }
    on_stopped(&mut protocol, &out, &mut link, now_us());
}

/// The state of a client's link to its venue across sessions.
#[derive(Debug, Default)]
pub struct Link {
    /// The feed was reported held and not released since.
    held: bool,
    /// The current session delivered frames after its handshake.
    healthy: bool,
}

impl Link {
    /// Releases the hold once the protocol has recovered.
    fn release_if_recovered<P: Protocol + ?Sized>(&mut self, protocol: &P, out: &ClientOutput) -> Result<(), Closed> {
        if self.held && !protocol.recovering(out.now_us()) {
            out.status(false)?;
            self.held = false;
        }
        Ok(())
    }
}

/// A connection opened at `at_us`: recorded, then the protocol subscribes and recovers. Returns
/// the messages to send.
pub fn on_connected<P: Protocol + ?Sized>(
    protocol: &mut P,
    out: &ClientOutput,
    link: &mut Link,
    at_us: i64,
) -> anyhow::Result<Vec<String>> {
    out.at(at_us);
    out.record(|| VenueEvent::Connected { symbols: protocol.symbols().to_vec() });
    let messages = protocol.connected(out)?;
    link.release_if_recovered(protocol, out)?;
    Ok(messages)
}

/// A text frame received at `receive_time_us`: recorded, then handled by the protocol.
pub fn on_text<P: Protocol + ?Sized>(
    protocol: &mut P,
    out: &ClientOutput,
    link: &mut Link,
    text: &str,
    receive_time_us: i64,
) -> anyhow::Result<Flow> {
    out.at(receive_time_us);
    out.record(|| VenueEvent::Text { text: text.to_owned() });
    let flow = protocol.text(text, receive_time_us, out)?;
    link.release_if_recovered(protocol, out)?;
    Ok(flow)
}

/// The connection ended (or could not be opened) at `at_us`, for `reason`: the feed is held.
pub fn on_disconnected<P: Protocol + ?Sized>(
    protocol: &mut P,
    out: &ClientOutput,
    link: &mut Link,
    reason: String,
    at_us: i64,
) -> Result<(), Closed> {
    out.at(at_us);
    out.record(|| VenueEvent::Disconnected { reason });
    protocol.disconnected(out);
    if !link.held {
        out.status(true)?;
        link.held = true;
    }
    Ok(())
}

/// The client stops at `at_us`: what is open is reported, and the hold released (nothing more
/// will come to wait for).
pub fn on_stopped<P: Protocol + ?Sized>(protocol: &mut P, out: &ClientOutput, link: &mut Link, at_us: i64) {
    out.at(at_us);
    out.record(|| VenueEvent::Stopped);
    if let Err(error) = protocol.stopped(out) {
        tracing::warn!(venue = ?out.venue, error = protocol.redact(format!("{error:#}")), "cannot report what is open");
    }
    if link.held {
        let _ = out.status(false);
    }
}

/// Records a control (or binary) frame, its payload in base64.
fn record_control(out: &ClientOutput, kind: &str, payload: &[u8]) {
    out.at(now_us());
    out.record(|| VenueEvent::Control {
        kind: kind.to_owned(),
        payload: base64::engine::general_purpose::STANDARD.encode(payload),
    });
}

async fn session(
    protocol: &mut (impl Protocol + Send),
    options: &LiveOptions,
    out: &ClientOutput,
    shutdown: &Shutdown,
    counters: &FeedCounters,
    link: &mut Link,
) -> anyhow::Result<End> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(options.max_frame_bytes))
        .max_frame_size(Some(options.max_frame_bytes));
    let mut socket = options.trust.connect(&protocol.url(), config).await?;
    counters.connects.inc();
    for message in on_connected(protocol, out, link, now_us())? {
        send(&mut socket, out, message).await?;
    }
    let (connected, mut heard) = (Instant::now(), Instant::now());
    let watchdog = options.watchdog.unwrap_or_else(|| protocol.watchdog());
    loop {
        if shutdown.requested() {
            let _ = socket.close(None).await;
            return Ok(End::Stop);
        }
        if connected.elapsed() >= options.max_connection_age {
            return Ok(End::Reconnect("planned: the connection is near the venue's age limit"));
        }
        if heard.elapsed() >= watchdog {
            counters.silent.inc();
            return Ok(End::Reconnect("silent for longer than the watchdog"));
        }
        // Reading answers the venue's pings (tungstenite queues the pong and sends it on the next read).
        let Ok(next) = tokio::time::timeout(Duration::from_millis(50), socket.next()).await else { continue };
        match next {
            Some(Ok(Message::Text(text))) => {
                heard = Instant::now();
                link.healthy = true;
                match on_text(protocol, out, link, text.as_str(), now_us())? {
                    Flow::Continue => {}
                    Flow::Send(messages) => {
                        for message in messages {
                            send(&mut socket, out, message).await?;
                        }
                    }
                    Flow::Reconnect(reason) => return Ok(End::Reconnect(reason)),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                // As on the wire: the status code (big-endian), then the reason.
                let payload = frame
                    .map_or_else(Vec::new, |f| [&u16::from(f.code).to_be_bytes()[..], f.reason.as_bytes()].concat());
                record_control(out, "close", &payload);
                return Ok(End::Reconnect("closed by the venue"));
            }
            Some(Ok(message)) => {
                heard = Instant::now();
                if out.tap.is_on() {
                    let kind = match &message {
                        Message::Ping(_) => "ping",
                        Message::Pong(_) => "pong",
                        Message::Binary(_) => "binary",
                        _ => "frame",
                    };
                    record_control(out, kind, &message.into_data());
                }
            }
            Some(Err(tungstenite::Error::Capacity(error))) => {
                counters.refused_frames.inc();
                anyhow::bail!("frame refused: {error}");
            }
            Some(Err(error)) => return Err(error.into()),
            None => return Ok(End::Reconnect("the connection ended")),
        }
    }
}

/// Sends a text message to the venue and records it.
async fn send(socket: &mut Socket, out: &ClientOutput, message: String) -> Result<(), tungstenite::Error> {
    socket.send(Message::text(message.clone())).await?;
    out.record(|| VenueEvent::Sent { text: message });
    Ok(())
}
