"""Finnhub candles: `GET {base}/stock/candle?symbol=AAPL&resolution=1&from=<unix s>&to=<unix s>` for
equities, `/crypto/candle?symbol=BINANCE:BTCUSDT&...` for crypto, the key in the `X-Finnhub-Token`
header (never in the URL).

Its quirks, handled here:
- The answer is column arrays: `{"s": "ok", "t": [...], "o": [...], "h": [...], "l": [...],
  "c": [...], "v": [...]}` with `t` the bar's open time in Unix seconds; a range without bars is
  `{"s": "no_data"}` (a day without trading, not an error).
- Prices and volumes are JSON numbers (binary floats): each is read through its shortest decimal
  representation and rounded half-even to the contract's 8 decimals.
- A key without candle access (they are a premium endpoint) gets HTTP 403 `{"error": "You don't
  have access to this resource."}`, a bad key HTTP 401: both fail the run with that message. Over
  60 calls a minute it answers HTTP 429, which is retried.
"""

import os
from decimal import ROUND_HALF_EVEN, Decimal

import requests

from tickflow_ops.kline_sources import Source, reference_instruments, required_key
from tickflow_ops.klines import INTERVALS_MS, Bar
from tickflow_ops.venue_http import VenueError, get_json, redact

DEFAULT_BASE_URL = "https://finnhub.io/api/v1"
RESOLUTIONS = {"1m": "1", "5m": "5", "1h": "60"}
EIGHT_DECIMALS = Decimal("1e-8")


class Finnhub(Source):
    venue = "finnhub"
    intervals = tuple(RESOLUTIONS)

    def __init__(self, url: str | None = None):
        self.url = (url or os.environ.get("TICKFLOW_FINNHUB_REST_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.key = required_key("FINNHUB_API_KEY", "Finnhub")
        self.http = requests.Session()
        self.kinds = {row["finnhub_symbol"]: row["asset_class"] for row in reference_instruments()}

    @classmethod
    def symbols(cls) -> dict[str, str]:
        return {row["finnhub_symbol"]: row["instrument_id"] for row in reference_instruments() if row["finnhub_symbol"]}

    def fetch(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Bar | None]:
        endpoint = "crypto/candle" if self.kinds.get(symbol) == "crypto" else "stock/candle"
        what = f"finnhub {symbol}"
        status, body = get_json(self.http, f"{self.url}/{endpoint}", what=what, secrets=[self.key],
                                headers={"X-Finnhub-Token": self.key},
                                params={"symbol": symbol, "resolution": RESOLUTIONS[interval],
                                        "from": start_ms // 1000, "to": (end_ms - 1) // 1000})
        if status != 200 or not isinstance(body, dict):
            error = body.get("error", body) if isinstance(body, dict) else body
            raise VenueError(f"{what}: HTTP {status}: {redact(str(error), [self.key])[:300]}")
        if body.get("s") == "no_data":
            return []
        if body.get("s") != "ok":
            raise VenueError(f"{what}: unexpected status {str(body.get('s'))[:50]!r} in the answer")
        return columns_to_bars(body, INTERVALS_MS[interval])


def columns_to_bars(body: dict, length_ms: int) -> list[Bar | None]:
    columns = [body.get(key) for key in ("t", "o", "h", "l", "c", "v")]
    if not all(isinstance(column, list) for column in columns) or len({len(c) for c in columns}) != 1:
        raise VenueError(f"finnhub: candle arrays missing or of different lengths (keys: {sorted(body)})")
    found = []
    for t, o, h, low, c, v in zip(*columns):
        try:
            open_ms = int(t) * 1000
            found.append(Bar(open_ms=open_ms, close_ms=open_ms + length_ms - 1, open=_number(o), high=_number(h),
                             low=_number(low), close=_number(c), volume=_number(v)))
        except (TypeError, ValueError, ArithmeticError):
            found.append(None)
    return found


def _number(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {value!r}")
    return Decimal(repr(value)).quantize(EIGHT_DECIMALS, rounding=ROUND_HALF_EVEN)
