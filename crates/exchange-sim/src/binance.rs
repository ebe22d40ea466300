//! Binance's protocols: combined `@trade` streams over WebSocket and `historicalTrades` over REST.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tickflow_core::contract::Venue;
use tungstenite::Message;

use crate::Faults;
use crate::Stats;
use crate::market::{Exchange, ManifestTrade};
use crate::session::{Context, Next, Socket, VenueSession, Waiting, now_ms, send_trade};

/// Pings a client may leave unanswered before the server drops it.
const UNANSWERED_PINGS: u32 = 3;

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

pub struct BinanceSession {
    context: Arc<Context>,
    streams: HashSet<String>,
    last_ping: Instant,
    unanswered: u32,
}

pub fn open(path: &str, context: &Arc<Context>) -> Result<BinanceSession, String> {
    Ok(BinanceSession {
        context: context.clone(),
        streams: requested_streams(path),
        last_ping: Instant::now(),
        unanswered: 0,
    })
}

impl VenueSession for BinanceSession {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    /// Live `SUBSCRIBE` / `UNSUBSCRIBE`, answered as Binance does.
    fn text(&mut self, ws: &mut Socket, text: &str) -> anyhow::Result<Next> {
        let Ok(control) = serde_json::from_str::<Control>(text) else {
            let error = serde_json::json!({"error": {"code": 3, "msg": "Invalid JSON"}, "id": null});
            ws.send(Message::text(error.to_string()))?;
            return Ok(Next::Continue);
        };
        match control.method.as_str() {
            "SUBSCRIBE" => {
                self.context.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
                self.streams.extend(control.params);
            }
            "UNSUBSCRIBE" => control.params.iter().for_each(|p| {
                self.streams.remove(p);
            }),
            _ => {}
        }
        ws.send(Message::text(serde_json::json!({"result": null, "id": control.id}).to_string()))?;
        Ok(Next::Continue)
    }

    /// A WebSocket ping every interval; a client that leaves three unanswered is dropped.
    fn tick(&mut self, ws: &mut Socket) -> anyhow::Result<Next> {
        if self.last_ping.elapsed() < self.context.config.ping_interval {
            return Ok(Next::Continue);
        }
        if self.unanswered >= UNANSWERED_PINGS {
            anyhow::bail!("pings unanswered: dropping the client");
        }
        ws.send(Message::Ping(format!("{}", self.last_ping.elapsed().as_nanos()).into()))?;
        self.context.stats.pings.fetch_add(1, Ordering::Relaxed);
        self.unanswered += 1;
        self.last_ping = Instant::now();
        Ok(Next::Continue)
    }

    fn pong(&mut self) {
        self.unanswered = 0;
    }

    fn trade(&mut self, ws: &mut Socket, trade: &ManifestTrade, missed: &Waiting) -> anyhow::Result<Next> {
        let stream = format!("{}@trade", trade.symbol.to_lowercase());
        if !self.streams.contains(&stream) {
            return Ok(Next::Continue);
        }
        let frame = format!(r#"{{"stream":"{stream}","data":{}}}"#, trade.binance_rest().stream_frame(&trade.symbol));
        let notice = serde_json::json!({"stream": stream, "data": {"e": "serverShutdown", "E": trade.time_us / 1000}});
        send_trade(
            ws,
            Venue::Binance,
            frame,
            Some(notice.to_string()),
            &self.context.config.faults,
            &self.context.stats,
            missed,
        )
    }
}

pub fn serve_rest(
    server: tiny_http::Server,
    exchange: Arc<Exchange>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    faults: Faults,
) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(100)) else { continue };
            stats.rest_requests.fetch_add(1, Ordering::Relaxed);
            let key = request.headers().iter().find(|h| h.field.equiv("X-MBX-APIKEY")).map(|h| h.value.to_string());
            let mut headers = vec![tiny_http::Header::from_bytes("Content-Type", "application/json").expect("static")];
            let (status, body) = if faults.rest_unavailable {
                (503, serde_json::json!({"code": -1001, "msg": "Service unavailable."}).to_string())
            } else if now_ms() < stats.rest_limited_until_ms.load(Ordering::Relaxed) {
                stats.rest_rate_limited.fetch_add(1, Ordering::Relaxed);
                headers.push(tiny_http::Header::from_bytes("Retry-After", "1").expect("static"));
                (429, serde_json::json!({"code": -1003, "msg": "Too many requests."}).to_string())
            } else if let Some(wanted) = faults.rest_api_key.as_ref().filter(|wanted| key.as_ref() != Some(*wanted)) {
                stats.rest_refused.fetch_add(1, Ordering::Relaxed);
                let status = if key.is_some() && !wanted.is_empty() { 403 } else { 401 };
                (
                    status,
                    serde_json::json!({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
                        .to_string(),
                )
            } else {
                answer(&exchange, request.url())
            };
            let mut response = tiny_http::Response::from_string(body).with_status_code(status);
            for header in headers {
                response.add_header(header);
            }
            let _ = request.respond(response);
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
    match exchange.trades_from(Venue::Binance, &symbol, from_id, limit) {
        Some(trades) => {
            let trades: Vec<_> = trades.iter().map(|t| t.binance_rest()).collect();
            (200, serde_json::to_string(&trades).unwrap_or_default())
        }
        None => (400, serde_json::json!({"code": -1121, "msg": "Invalid symbol."}).to_string()),
    }
}
