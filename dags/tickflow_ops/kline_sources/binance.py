"""Binance spot klines: `GET {base}/api/v3/klines?symbol=&interval=&startTime=&endTime=&limit=1000`,
paged until the range is covered. No key. Each kline is an array: [open time ms, open, high, low,
close, volume, close time ms, quote volume, trades, taker buy volume, taker buy quote volume, _],
decimals as exact strings. Errors are HTTP 4xx with `{"code": -1121, "msg": "Invalid symbol."}`."""

import os

import requests

from tickflow_ops.kline_sources import Source, reference_instruments
from tickflow_ops.klines import INTERVALS_MS, Bar
from tickflow_ops.venue_http import VenueError, get_json

DEFAULT_BASE_URL = "https://api.binance.com"  # api.binance.us for US users
PAGE = 1000


class Binance(Source):
    venue = "binance"
    intervals = ("1m", "5m", "1h")

    def __init__(self, url: str | None = None):
        self.url = (url or os.environ.get("TICKFLOW_BINANCE_REST_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.http = requests.Session()

    @classmethod
    def symbols(cls) -> dict[str, str]:
        return {row["binance_symbol"]: row["instrument_id"] for row in reference_instruments() if row["binance_symbol"]}

    def fetch(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Bar | None]:
        bars, cursor = [], start_ms
        while cursor < end_ms:
            status, page = get_json(self.http, f"{self.url}/api/v3/klines", what=f"binance {symbol}", params={
                "symbol": symbol, "interval": interval, "startTime": cursor, "endTime": end_ms - 1, "limit": PAGE})
            if status != 200:
                raise VenueError(f"binance {symbol}: HTTP {status} from {self.url}: {page}")
            page_bars = [_bar(kline) for kline in page]
            bars += page_bars
            known = [b.open_ms for b in page_bars if b]
            if len(page) < PAGE or not known:
                break
            cursor = max(known) + INTERVALS_MS[interval]
        return bars


def _bar(k: list) -> Bar | None:
    try:
        return Bar(open_ms=int(k[0]), close_ms=int(k[6]), open=k[1], high=k[2], low=k[3], close=k[4], volume=k[5],
                   quote_volume=k[7], trade_count=k[8], taker_buy_volume=k[9], taker_buy_quote_volume=k[10])
    except (IndexError, KeyError, TypeError, ValueError):
        return None
