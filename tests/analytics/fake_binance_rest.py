"""A local stand-in for Binance's REST klines endpoint (`GET /api/v3/klines`), answering as Binance
does: arrays of [open time, open, high, low, close, volume, close time, quote volume, trades,
taker buy volume, taker buy quote volume, "0"], at most `limit` (<= 1000) klines opening in
[startTime, endTime], HTTP 400 with a JSON error for an unknown symbol. Prices are a deterministic
function of the symbol and the minute, so a test knows every value it should find."""

import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MINUTE_MS = 60_000


def kline(symbol, open_ms):
    seed = zlib.crc32(f"{symbol}{open_ms}".encode())
    base = 20_000_00 + seed % 1_000_00  # cents
    o, c = base, base + (seed >> 8) % 500 - 250
    h, low = max(o, c) + (seed >> 4) % 100, min(o, c) - (seed >> 12) % 100
    volume = (seed >> 16) % 5000 + 1  # in 0.001
    cents = lambda v: f"{v // 100}.{v % 100:02d}"  # noqa: E731
    return [open_ms, cents(o), cents(h), cents(low), cents(c), f"{volume / 1000:.3f}", open_ms + MINUTE_MS - 1,
            f"{volume * c / 100_000:.5f}", seed % 300, f"{volume / 2000:.4f}", f"{volume * c / 200_000:.6f}", "0"]


class FakeBinanceRest:
    def __init__(self, symbols=("BTCUSDT", "ETHUSDT")):
        self.symbols = set(symbols)
        self.requests = []  # query parameters of each klines request
        self.throttle_next = 0  # answer this many requests with 429 and Retry-After: 1
        self.broken = set()  # (symbol, open ms) served with high below open
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/api/v3/klines":
                    return self.answer(404, {"code": -1, "msg": "not found"})
                server.requests.append(query)
                if server.throttle_next:
                    server.throttle_next -= 1
                    return self.answer(429, {"code": -1003, "msg": "Too many requests"}, {"Retry-After": "1"})
                if query.get("symbol") not in server.symbols:
                    return self.answer(400, {"code": -1121, "msg": "Invalid symbol."})
                limit = min(int(query.get("limit", 500)), 1000)
                start = -(-int(query["startTime"]) // MINUTE_MS) * MINUTE_MS
                end = int(query["endTime"])
                klines = []
                for open_ms in range(start, end + 1, MINUTE_MS)[:limit]:
                    k = kline(query["symbol"], open_ms)
                    if (query["symbol"], open_ms) in server.broken:
                        k[2] = "1.00"
                    klines.append(k)
                self.answer(200, klines)

            def answer(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self):
        self.http.shutdown()
        self.http.server_close()
