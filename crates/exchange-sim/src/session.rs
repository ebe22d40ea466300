//! What every venue's WebSocket server shares: accepting connections, the session loop (client
//! frames, timers, the market's trades) and the injected faults.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use tickflow_core::contract::Venue;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message, WebSocket};

use crate::market::{Exchange, ManifestTrade};
use crate::tls::{Certificates, Stream};
use crate::{Faults, SimConfig, Stats};

pub type Socket = WebSocket<Stream>;

/// Whether a session goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Close,
}

/// The trades a session has not sent yet (it was busy, or they came together).
pub type Waiting = Receiver<Arc<ManifestTrade>>;

/// `trade` and every trade already waiting, of those `followed` keeps: what a venue that
/// batches its trades sends together.
pub fn with_waiting(
    trade: &ManifestTrade,
    waiting: &Waiting,
    followed: impl Fn(&ManifestTrade) -> bool,
) -> Vec<ManifestTrade> {
    let mut batch = vec![trade.clone()];
    batch.extend(std::iter::from_fn(|| waiting.try_recv().ok()).map(|t| (*t).clone()));
    batch.retain(followed);
    batch
}

/// One venue's side of a connection.
pub trait VenueSession {
    /// The venue whose trades the session is offered.
    fn venue(&self) -> Venue;
    /// A frame from the client.
    fn text(&mut self, ws: &mut Socket, text: &str) -> anyhow::Result<Next>;
    /// Called about every 5 ms: pings, heartbeats, deadlines.
    fn tick(&mut self, ws: &mut Socket) -> anyhow::Result<Next>;
    /// A WebSocket pong from the client.
    fn pong(&mut self) {}
    /// A trade of its venue that happened; the session sends it if its client asked for it.
    fn trade(&mut self, ws: &mut Socket, trade: &ManifestTrade, missed: &Waiting) -> anyhow::Result<Next>;
}

pub struct Context {
    pub exchange: Arc<Exchange>,
    /// With `--tls`: the certificates connections are served with.
    pub tls: Option<Arc<Certificates>>,
    pub config: SimConfig,
    pub stats: Arc<Stats>,
    pub stop: Arc<AtomicBool>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Accepts connections on `listener`, one thread per session made by `open` from the request
/// path; during an outage of `venue` a connection is closed as soon as it is accepted.
pub fn serve<S: VenueSession + Send + 'static>(
    listener: TcpListener,
    venue: Venue,
    context: Arc<Context>,
    open: fn(&str, &Arc<Context>) -> Result<S, String>,
) {
    let _ = listener.set_nonblocking(true);
    std::thread::spawn(move || {
        while !context.stop.load(Ordering::Relaxed) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            if now_ms() < context.stats.down_until_ms[venue as usize].load(Ordering::Relaxed) {
                context.stats.refused_in_outage.fetch_add(1, Ordering::Relaxed);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                continue;
            }
            let context = context.clone();
            std::thread::spawn(move || {
                if let Err(error) = run(stream, &context, open) {
                    tracing::debug!(%error, "session ended");
                }
            });
        }
    });
}

// The handshake callback's error type is tungstenite's own HTTP response.
#[allow(clippy::result_large_err)]
fn run<S: VenueSession + Send + 'static>(
    stream: TcpStream,
    context: &Arc<Context>,
    open: fn(&str, &Arc<Context>) -> Result<S, String>,
) -> anyhow::Result<()> {
    stream.set_nonblocking(false)?;
    let stream = match &context.tls {
        Some(certificates) => certificates.accept(stream)?,
        None => Stream::Plain(stream),
    };
    let opened = Arc::new(std::sync::Mutex::new(None));
    let (slot, owner) = (opened.clone(), context.clone());
    let mut ws = tungstenite::accept_hdr(stream, move |request: &Request, response: Response| {
        match open(&request.uri().to_string(), &owner) {
            Ok(session) => {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(session);
                Ok(response)
            }
            Err(reason) => {
                let mut refusal = tungstenite::http::Response::new(Some(reason));
                *refusal.status_mut() = tungstenite::http::StatusCode::UNAUTHORIZED;
                Err(refusal)
            }
        }
    })?;
    let mut session =
        opened.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or_else(|| anyhow::anyhow!("no session"))?;
    ws.get_ref().tcp().set_read_timeout(Some(Duration::from_millis(5)))?;
    context.stats.connections.fetch_add(1, Ordering::Relaxed);
    let trades = context.exchange.subscribe();
    while !context.stop.load(Ordering::Relaxed) {
        if session.tick(&mut ws)? == Next::Close {
            return Ok(());
        }
        let next = match ws.read() {
            Ok(Message::Pong(_)) => {
                context.stats.pongs.fetch_add(1, Ordering::Relaxed);
                session.pong();
                Next::Continue
            }
            Ok(Message::Text(text)) => session.text(&mut ws, text.as_str())?,
            Ok(Message::Close(_)) => Next::Close,
            Ok(_) => Next::Continue,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                Next::Continue
            }
            Err(error) => return Err(error.into()),
        };
        if next == Next::Close {
            return Ok(());
        }
        loop {
            let trade = match trades.try_recv() {
                Ok(trade) => trade,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => anyhow::bail!("fell too far behind: dropped by the exchange"),
            };
            if trade.venue == session.venue() && session.trade(&mut ws, &trade, &trades)? == Next::Close {
                return Ok(());
            }
        }
    }
    Ok(())
}

pub fn every(n: Option<u64>, count: u64) -> bool {
    n.is_some_and(|n| n > 0 && count.is_multiple_of(n))
}

/// Sends a trade frame of `venue` with the faults due at this point (counted per venue):
/// duplicated, malformed and oversized frames, the venue's maintenance notice (`notice`), a
/// dropped connection, a stall during which the trades that happen are missed.
pub fn send_trade(
    ws: &mut Socket,
    venue: Venue,
    frame: String,
    notice: Option<String>,
    faults: &Faults,
    stats: &Stats,
    missed: &Receiver<Arc<ManifestTrade>>,
) -> anyhow::Result<Next> {
    let count = stats.count_frame(venue);
    if !faults.apply_to(venue) {
        ws.send(Message::text(frame))?;
        return Ok(Next::Continue);
    }
    if every(faults.duplicate_every, count) {
        ws.send(Message::text(frame.clone()))?;
        stats.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    ws.send(Message::text(frame.clone()))?;
    if every(faults.malformed_every, count) {
        ws.send(Message::text(frame[..frame.len() / 2].to_owned()))?;
        stats.malformed.fetch_add(1, Ordering::Relaxed);
    }
    if every(faults.oversized_every, count) {
        let padding = "x".repeat(faults.oversized_bytes + 1);
        ws.send(Message::text(serde_json::json!({"type": "padding", "padding": padding}).to_string()))?;
        stats.oversized.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(notice) = notice.filter(|_| every(faults.shutdown_every, count)) {
        ws.send(Message::text(notice))?;
        let _ = ws.close(None);
        let _ = ws.flush();
        stats.shutdowns.fetch_add(1, Ordering::Relaxed);
        return Ok(Next::Close);
    }
    if every(faults.disconnect_every, count) {
        if let Some(outage) = faults.outage {
            let until = now_ms() + outage.as_millis() as u64;
            stats.down_until_ms[venue as usize].store(until, Ordering::Relaxed);
        }
        if let Some(limited) = faults.rest_rate_limit.filter(|_| venue == Venue::Binance) {
            stats.rest_limited_until_ms.store(now_ms() + limited.as_millis() as u64, Ordering::Relaxed);
        }
        let _ = ws.get_ref().tcp().shutdown(std::net::Shutdown::Both);
        stats.disconnects.fetch_add(1, Ordering::Relaxed);
        return Ok(Next::Close);
    }
    if every(faults.stall_every, count) {
        stats.stalls.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(faults.stall);
        while missed.try_recv().is_ok() {}
    }
    Ok(Next::Continue)
}
