"""Local stand-ins for the venues' REST APIs the klines backfill reads, answering in each venue's
documented format (../shared/notes/sources.md), errors included:

- Binance `GET /api/v3/klines`: arrays, at most `limit` (<= 1000) klines opening in
  [startTime, endTime], HTTP 400 `{"code": -1121, "msg": "Invalid symbol."}`, 429 with Retry-After.
- Alpha Vantage `GET /query?function=TIME_SERIES_INTRADAY`: a month of bars labelled in naive
  US/Eastern time, 04:00-19:59 on weekdays; refusals as HTTP 200 with `Error Message`, `Note` or
  `Information`; the key in the `apikey` query parameter.
- Finnhub `GET /stock/candle` and `/crypto/candle`: column arrays with Unix-second open times and
  float values, `{"s": "no_data"}` for a range without bars (weekends for stocks), 401 for a bad
  key, 403 without candle access, 429 over the rate limit; the key in `X-Finnhub-Token`.

Values are a deterministic function of the symbol and the bar's open time (`bar`), so a test
knows every value it should find; `bars` replaces it (e.g. with klines made from known trades).
"""

import calendar
import json
import threading
import zlib
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
EASTERN = ZoneInfo("US/Eastern")


def bar(symbol, open_ms):
    """(open, high, low, close, volume, trades) of `symbol`'s minute at `open_ms`, as Decimals."""
    seed = zlib.crc32(f"{symbol}{open_ms}".encode())
    base = 20_000_00 + seed % 1_000_00  # cents
    o, c = base, base + (seed >> 8) % 500 - 250
    h, low = max(o, c) + (seed >> 4) % 100, min(o, c) - (seed >> 12) % 100
    cents = lambda v: Decimal(v) / 100  # noqa: E731
    return cents(o), cents(h), cents(low), cents(c), Decimal((seed >> 16) % 5000 + 1) / 1000, seed % 300


def kline(symbol, open_ms):
    """Binance's array for the synthetic minute."""
    o, h, low, c, volume, trades = bar(symbol, open_ms)
    return [open_ms, f"{o:.2f}", f"{h:.2f}", f"{low:.2f}", f"{c:.2f}", f"{volume:.3f}", open_ms + MINUTE_MS - 1,
            f"{volume * c:.5f}", trades, f"{volume / 2:.4f}", f"{volume * c / 2:.6f}", "0"]


class JsonServer:
    """A threaded HTTP server on loopback answering GETs with `self.route(path, query, headers)`,
    which returns (status, body[, headers]); every request is kept in `requests`."""

    def __init__(self):
        self.requests = []  # (path, query, headers) of each request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                server.requests.append((url.path, query, dict(self.headers)))
                status, body, *extra = server.route(url.path, query, self.headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (extra[0] if extra else {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def route(self, path, query, headers):
        raise NotImplementedError

    def close(self):
        self.http.shutdown()
        self.http.server_close()


class FakeBinanceRest(JsonServer):
    def __init__(self, symbols=("BTCUSDT", "ETHUSDT"), klines=kline):
        self.symbols = set(symbols)
        self.klines = klines  # (symbol, open ms) -> Binance's array, or None for a minute without one
        self.throttle_next = 0  # answer this many requests with 429 and Retry-After: 1
        self.broken = set()  # (symbol, open ms) served with high below open
        super().__init__()

    @property
    def kline_requests(self):
        return [query for path, query, _ in self.requests if path == "/api/v3/klines"]

    def route(self, path, query, headers):
        if path != "/api/v3/klines":
            return 404, {"code": -1, "msg": "not found"}
        if self.throttle_next:
            self.throttle_next -= 1
            return 429, {"code": -1003, "msg": "Too many requests"}, {"Retry-After": "1"}
        if query.get("symbol") not in self.symbols:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        limit = min(int(query.get("limit", 500)), 1000)
        start = -(-int(query["startTime"]) // MINUTE_MS) * MINUTE_MS
        found = []
        for open_ms in range(start, int(query["endTime"]) + 1, MINUTE_MS):
            k = self.klines(query["symbol"], open_ms)
            if k is None:
                continue
            if (query["symbol"], open_ms) in self.broken:
                k = [*k[:2], "1.00", *k[3:]]
            found.append(k)
            if len(found) == limit:
                break
        return 200, found


class FakeAlphaVantage(JsonServer):
    """TIME_SERIES_INTRADAY 1min for `symbols`, `month=` required, with key `key`."""

    def __init__(self, key, symbols=("AAPL", "MSFT")):
        self.key, self.symbols = key, set(symbols)
        self.refusals = []  # bodies to answer the next requests with (HTTP 200), in order
        super().__init__()

    @property
    def months(self):
        return [(q["symbol"], q["month"]) for path, q, _ in self.requests if path == "/query"]

    def route(self, path, query, headers):
        if path != "/query" or query.get("function") != "TIME_SERIES_INTRADAY":
            return 200, {"Error Message": "Invalid API call. Please retry or visit the documentation."}
        if query.get("apikey") != self.key:
            return 200, {"Error Message": "the parameter apikey is invalid or missing."}
        if self.refusals:
            return 200, self.refusals.pop(0)
        if query.get("symbol") not in self.symbols or query.get("interval") != "1min":
            return 200, {"Error Message": "Invalid API call. Please retry or visit the documentation "
                                          "(https://www.alphavantage.co/documentation/) for TIME_SERIES_INTRADAY."}
        year, month = map(int, query["month"].split("-"))
        series = {}
        for day in range(calendar.monthrange(year, month)[1], 0, -1):  # newest first, as Alpha Vantage
            local_day = datetime(year, month, day, tzinfo=EASTERN)
            if local_day.weekday() >= 5:
                continue
            for minute in range(20 * 60 - 1, 4 * 60 - 1, -1):
                local = local_day + timedelta(minutes=minute)
                o, h, low, c, volume, _ = bar(query["symbol"], eastern_ms(local))
                series[local.strftime("%Y-%m-%d %H:%M:%S")] = {
                    "1. open": f"{o:.4f}", "2. high": f"{h:.4f}", "3. low": f"{low:.4f}", "4. close": f"{c:.4f}",
                    "5. volume": str(int(volume * 1000))}
        meta = {"1. Information": "Intraday (1min) open, high, low, close prices and volume", "2. Symbol": query["symbol"],
                "3. Last Refreshed": next(iter(series), ""), "4. Interval": "1min", "5. Output Size": "Full size",
                "6. Time Zone": "US/Eastern"}
        return 200, {"Meta Data": meta, "Time Series (1min)": series}


def eastern_ms(local):
    """ms since the epoch of a wall-clock time in US/Eastern (a naive Alpha Vantage label)."""
    return int(local.replace(tzinfo=EASTERN).astimezone(timezone.utc).timestamp() * 1000)


class FakeFinnhub(JsonServer):
    """Candles with key `key`; stocks trade on weekdays 09:30-15:59 US/Eastern, crypto always."""

    def __init__(self, key, premium=True):
        self.key, self.premium = key, premium
        self.throttle_next = 0
        super().__init__()

    def route(self, path, query, headers):
        if path not in ("/api/v1/stock/candle", "/api/v1/crypto/candle"):
            return 404, {"error": "not found"}
        if headers.get("X-Finnhub-Token") != self.key:
            return 401, {"error": "Invalid API key"}
        if not self.premium:
            return 403, {"error": "You don't have access to this resource."}
        if self.throttle_next:
            self.throttle_next -= 1
            return 429, {"error": "API limit reached. Please try again later. Remaining Limit: 0"}
        stock = path.endswith("stock/candle")
        columns = {key: [] for key in "tohlcv"}
        start = -(-int(query["from"]) // 60) * 60
        for open_s in range(start, int(query["to"]) + 1, 60):
            local = datetime.fromtimestamp(open_s, EASTERN)
            if stock and (local.weekday() >= 5 or not (9 * 60 + 30 <= local.hour * 60 + local.minute < 16 * 60)):
                continue
            values = bar(query["symbol"], open_s * 1000)
            for key, value in zip("ohlcv", values):
                columns[key].append(float(value))
            columns["t"].append(open_s)
        if not columns["t"]:
            return 200, {"s": "no_data"}
        return 200, {**columns, "s": "ok"}


def binance_klines_from_trades(trades, gaps, symbol):
    """A venue's own 1 min klines of `symbol` made from the trades it executed: the stream's
    `trades` (dicts as tests/e2e/generate.py writes them) plus, for each feed gap of `gaps` (the
    lake's feed-gap rows), the trades the stream never got (one unit of size each, at the gap's
    start). Returns the FakeBinanceRest `klines` function: (symbol, open ms) -> array or None."""
    executed = [(t["event_time_us"] // 1000, int(t["trade_id"]), Decimal(t["price"]), Decimal(t["size"]))
                for t in trades if t["venue"] == "binance" and t["venue_symbol"] == symbol]
    for gap in gaps:
        if gap[1] == "binance" and gap[2] == symbol:
            price = min(executed, key=lambda e: abs(e[0] - gap[5] // 1000))[2]
            executed += [(gap[5] // 1000, int(gap[7]) + n, price, Decimal(1)) for n in range(gap[9])]
    minutes = {}
    for ms, trade_id, price, size in sorted(executed):
        minutes.setdefault(ms // MINUTE_MS * MINUTE_MS, []).append((price, size))
    table = {}
    for open_ms, fills in minutes.items():
        prices = [p for p, _ in fills]
        volume, quote = sum(s for _, s in fills), sum(p * s for p, s in fills)
        # Taker-buy halves on the venue's own scales (8 decimals for base, Binance's quote strings).
        taker_base = (volume / 2).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        table[open_ms] = [open_ms, str(prices[0]), str(max(prices)), str(min(prices)), str(prices[-1]), str(volume),
                          open_ms + MINUTE_MS - 1, str(quote), len(fills), str(taker_base), str(quote / 2), "0"]
    return lambda requested, open_ms: table.get(open_ms) if requested == symbol else None
