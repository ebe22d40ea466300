//! Binance's protocols: combined `@trade` streams over WebSocket and `historicalTrades` over REST.

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message, WebSocket};

use crate::market::{Exchange, Published};
use crate::{Faults, SimConfig, Stats};

/// Pings a client may leave unanswered before the server drops it.
const UNANSWERED_PINGS: u32 = 3;

pub fn serve_ws(
    listener: TcpListener,
    exchange: Arc<Exchange>,
    config: SimConfig,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    let _ = listener.set_nonblocking(true);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let (exchange, config, stats, stop) =
                        (exchange.clone(), config.clone(), stats.clone(), stop.clone());
                    std::thread::spawn(move || {
                        if let Err(error) = session(stream, &exchange, &config, &stats, &stop) {
                            tracing::debug!(%error, "binance session ended");
                        }
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
}

/// The streams a connection asked for in its path: `/stream?streams=a@trade/b@trade` or `/ws/a@trade`.
fn requested_streams(path: &str) -> HashSet<String> {
    let list = path
        .split_once("streams=")
        .map(|(_, rest)| rest.split('&').next().unwrap_or(""))
        .or_else(|| path.strip_prefix("/ws/"))
        .unwrap_or("");
    list.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[derive(Deserialize)]
struct Control {
    method: String,
    #[serde(default)]
    params: Vec<String>,
    id: serde_json::Value,
}

struct Session<'a> {
    ws: WebSocket<TcpStream>,
    streams: HashSet<String>,
    faults: &'a Faults,
    stats: &'a Stats,
}

fn every(n: Option<u64>, count: u64) -> bool {
    n.is_some_and(|n| n > 0 && count.is_multiple_of(n))
}

// The handshake callback's error type is tungstenite's own HTTP response.
#[allow(clippy::result_large_err)]
fn session(
    stream: TcpStream,
    exchange: &Exchange,
    config: &SimConfig,
    stats: &Stats,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    stream.set_nonblocking(false)?;
    let path = Arc::new(std::sync::Mutex::new(String::new()));
    let seen = path.clone();
    let mut ws = tungstenite::accept_hdr(stream, move |request: &Request, response: Response| {
        *seen.lock().unwrap_or_else(|e| e.into_inner()) = request.uri().to_string();
        Ok(response)
    })?;
    let path = path.lock().unwrap_or_else(|e| e.into_inner()).clone();
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(5)))?;
    stats.connections.fetch_add(1, Ordering::Relaxed);
    let trades = exchange.subscribe();
    let mut session = Session { ws, streams: requested_streams(&path), faults: &config.faults, stats };
    let (mut last_ping, mut unanswered) = (Instant::now(), 0u32);
    while !stop.load(Ordering::Relaxed) {
        if last_ping.elapsed() >= config.ping_interval {
            if unanswered >= UNANSWERED_PINGS {
                anyhow::bail!("pings unanswered: dropping the client");
            }
            session.ws.send(Message::Ping(format!("{}", last_ping.elapsed().as_nanos()).into()))?;
            stats.pings.fetch_add(1, Ordering::Relaxed);
            unanswered += 1;
            last_ping = Instant::now();
        }
        match session.ws.read() {
            Ok(Message::Pong(_)) => {
                stats.pongs.fetch_add(1, Ordering::Relaxed);
                unanswered = 0;
            }
            Ok(Message::Text(text)) => session.control(text.as_str())?,
            Ok(Message::Close(_)) => return Ok(()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(error) => return Err(error.into()),
        }
        if !session.forward(&trades)? {
            return Ok(());
        }
    }
    Ok(())
}

impl Session<'_> {
    /// Live `SUBSCRIBE` / `UNSUBSCRIBE`, answered as Binance does.
    fn control(&mut self, text: &str) -> anyhow::Result<()> {
        let Ok(control) = serde_json::from_str::<Control>(text) else {
            let error = serde_json::json!({"error": {"code": 3, "msg": "Invalid JSON"}, "id": null});
            return Ok(self.ws.send(Message::text(error.to_string()))?);
        };
        match control.method.as_str() {
            "SUBSCRIBE" => {
                self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
                self.streams.extend(control.params);
            }
            "UNSUBSCRIBE" => control.params.iter().for_each(|p| {
                self.streams.remove(p);
            }),
            _ => {}
        }
        Ok(self.ws.send(Message::text(serde_json::json!({"result": null, "id": control.id}).to_string()))?)
    }

    /// Sends the trades that happened since the last call; false when a fault ended the connection.
    fn forward(&mut self, trades: &Receiver<Arc<Published>>) -> anyhow::Result<bool> {
        loop {
            let published = match trades.try_recv() {
                Ok(published) => published,
                Err(TryRecvError::Empty) => return Ok(true),
                Err(TryRecvError::Disconnected) => anyhow::bail!("fell too far behind: dropped by the exchange"),
            };
            let stream = format!("{}@trade", published.symbol.to_lowercase());
            if !self.streams.contains(&stream) {
                continue;
            }
            let (faults, count) = (self.faults, self.stats.trade_frames.fetch_add(1, Ordering::Relaxed) + 1);
            let data: serde_json::Value = serde_json::from_str(&published.trade.stream_frame(&published.symbol))?;
            let frame = serde_json::json!({"stream": stream, "data": data}).to_string();
            self.ws.send(Message::text(frame.clone()))?;
            if every(faults.duplicate_every, count) {
                self.ws.send(Message::text(frame.clone()))?;
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            if every(faults.malformed_every, count) {
                self.ws.send(Message::text(frame[..frame.len() / 2].to_owned()))?;
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
            }
            if every(faults.oversized_every, count) {
                let padding = "x".repeat(faults.oversized_bytes + 1);
                self.ws.send(Message::text(serde_json::json!({"stream": stream, "padding": padding}).to_string()))?;
                self.stats.oversized.fetch_add(1, Ordering::Relaxed);
            }
            if every(faults.shutdown_every, count) {
                let notice =
                    serde_json::json!({"stream": stream, "data": {"e": "serverShutdown", "E": published.trade.time}});
                self.ws.send(Message::text(notice.to_string()))?;
                let _ = self.ws.close(None);
                let _ = self.ws.flush();
                self.stats.shutdowns.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            if every(faults.disconnect_every, count) {
                let _ = self.ws.get_mut().shutdown(std::net::Shutdown::Both);
                self.stats.disconnects.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            if every(faults.stall_every, count) {
                self.stats.stalls.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(faults.stall);
                while trades.try_recv().is_ok() {} // what happened meanwhile is missed
            }
        }
    }
}

pub fn serve_rest(server: tiny_http::Server, exchange: Arc<Exchange>, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(100)) else { continue };
            stats.rest_requests.fetch_add(1, Ordering::Relaxed);
            let (status, body) = answer(&exchange, request.url());
            let header = tiny_http::Header::from_bytes("Content-Type", "application/json").expect("static header");
            let _ =
                request.respond(tiny_http::Response::from_string(body).with_status_code(status).with_header(header));
        }
    });
}

fn answer(exchange: &Exchange, url: &str) -> (u16, String) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let parameter = |name: &str| {
        query.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_owned()))
    };
    if path != "/api/v3/historicalTrades" {
        return (404, serde_json::json!({"code": -1, "msg": "not found"}).to_string());
    }
    let symbol = parameter("symbol").unwrap_or_default();
    let limit = parameter("limit").and_then(|l| l.parse().ok()).unwrap_or(500usize).min(1000);
    let Some(from_id) = parameter("fromId").and_then(|f| f.parse().ok()) else {
        return (400, serde_json::json!({"code": -1102, "msg": "fromId is required here"}).to_string());
    };
    match exchange.trades_from(&symbol, from_id, limit) {
        Some(trades) => (200, serde_json::to_string(&trades).unwrap_or_default()),
        None => (400, serde_json::json!({"code": -1121, "msg": "Invalid symbol."}).to_string()),
    }
}
