"""Alpha Vantage intraday bars of US equities:
`GET {base}/query?function=TIME_SERIES_INTRADAY&symbol=IBM&interval=1min&outputsize=full&month=YYYY-MM
&adjusted=false&extended_hours=true&apikey=KEY`, one call per instrument and month.

Its quirks, handled here:
- Refusals come as HTTP 200: `{"Error Message": ...}` (bad symbol or call), `{"Note": ...}` or
  `{"Information": ...}` (rate limits, a bad or premium-only key). None of them is data. A
  per-minute limit is waited out (TICKFLOW_ALPHAVANTAGE_THROTTLE_WAIT_S, 60 s by default, three
  times); anything else (the daily limit of a free key: 25 calls) fails the run with the message.
- Timestamps are naive local times in the zone the metadata names (`"6. Time Zone": "US/Eastern"`);
  they are converted to UTC with that zone. A bar is labelled by its open time (the series of a
  day runs 04:00 to 19:59 with extended hours), so [label, label + interval) is the bar.
- Prices are split- and dividend-adjusted unless `adjusted=false`, which is asked for: the
  stream's trades are not adjusted, and the klines are compared with them.
- The key can only be passed in the query string, so it is redacted from every error and log
  (tickflow_ops.venue_http).
A UTC day spans two US/Eastern dates (and, on the first of a month, two months): every month the
day touches is fetched, and the bars outside the day are dropped by the caller.
"""

import os
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import requests

from tickflow_ops.kline_sources import Source, reference_instruments, required_key
from tickflow_ops.klines import INTERVALS_MS, Bar
from tickflow_ops.venue_http import VenueError, get_json, redact

DEFAULT_BASE_URL = "https://www.alphavantage.co"
EXCHANGE_ZONE = ZoneInfo("America/New_York")  # which months to ask for; the answer names its own zone
VENUE_INTERVALS = {"1m": "1min", "5m": "5min", "1h": "60min"}
REFUSALS = ("Error Message", "Note", "Information")


class AlphaVantage(Source):
    venue = "alphavantage"
    intervals = tuple(VENUE_INTERVALS)

    def __init__(self, url: str | None = None):
        self.url = (url or os.environ.get("TICKFLOW_ALPHAVANTAGE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.key = required_key("ALPHAVANTAGE_API_KEY", "Alpha Vantage")
        self.throttle_wait_s = float(os.environ.get("TICKFLOW_ALPHAVANTAGE_THROTTLE_WAIT_S", "60"))
        self.http = requests.Session()

    @classmethod
    def symbols(cls) -> dict[str, str]:
        """US equities (Alpha Vantage's intraday series), by their ticker."""
        return {row["finnhub_symbol"]: row["instrument_id"] for row in reference_instruments()
                if row["asset_class"] == "equity" and row["finnhub_symbol"]}

    def fetch(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Bar | None]:
        months = sorted({datetime.fromtimestamp(ms / 1000, EXCHANGE_ZONE).strftime("%Y-%m") for ms in (start_ms, end_ms - 1)})
        return [bar for month in months for bar in self.month(symbol, interval, month)]

    def month(self, symbol: str, interval: str, month: str) -> list[Bar | None]:
        params = {"function": "TIME_SERIES_INTRADAY", "symbol": symbol, "interval": VENUE_INTERVALS[interval],
                  "outputsize": "full", "month": month, "adjusted": "false", "extended_hours": "true",
                  "datatype": "json", "apikey": self.key}
        what = f"alphavantage {symbol} {month}"
        for attempt in range(4):
            status, body = get_json(self.http, f"{self.url}/query", what=what, params=params, secrets=[self.key])
            refusal = next((key for key in REFUSALS if isinstance(body, dict) and key in body), None)
            if status == 200 and refusal is None:
                return bars(body, interval, what)
            message = redact(str(body.get(refusal) if refusal else body), [self.key])[:300]
            if refusal and per_minute_limit(message) and attempt < 3:
                time.sleep(self.throttle_wait_s)
                continue
            raise VenueError(f"{what}: refused (HTTP {status}{f', {refusal!r}' if refusal else ''}): {message}")
        raise AssertionError("unreachable")


def per_minute_limit(message: str) -> bool:
    text = message.lower()
    return "per minute" in text or "call frequency" in text


def bars(body: dict, interval: str, what: str) -> list[Bar | None]:
    """The bars of a TIME_SERIES_INTRADAY answer, times in UTC ms."""
    meta = body.get("Meta Data", {})
    zone_name = next((value for key, value in meta.items() if key.endswith("Time Zone")), None)
    series = body.get(f"Time Series ({VENUE_INTERVALS[interval]})")
    if zone_name is None or not isinstance(series, dict):
        raise VenueError(f"{what}: no time series or time zone in the answer (keys: {sorted(body)[:5]})")
    zone, length = ZoneInfo(zone_name), INTERVALS_MS[interval]
    found = []
    for stamp, values in series.items():
        try:
            local = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
            open_ms = int(local.astimezone(timezone.utc).timestamp() * 1000)
            found.append(Bar(open_ms=open_ms, close_ms=open_ms + length - 1, open=values["1. open"],
                             high=values["2. high"], low=values["3. low"], close=values["4. close"],
                             volume=values["5. volume"]))
        except (KeyError, TypeError, ValueError):
            found.append(None)
    return found
