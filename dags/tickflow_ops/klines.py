"""Historical 1 min klines from Binance's REST API into the lake's `klines` table, one day at a time.

`GET {base_url}/api/v3/klines?symbol=&interval=1m&startTime=&endTime=&limit=1000`, paged until the
day is covered. A day of one instrument is one file,
`klines/date=<day>/symbol=<instrument_id>/klines-binance-<interval>.parquet`, replaced atomically,
so backfilling a day again gives the same file. Columns follow schemas/kline.schema.json.
Rows that break a candle's invariants are counted and left out, never written.
"""

import csv
import functools
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.parquet as pq
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tickflow_ops import settings
from tickflow_ops.lake_paths import parquet_writer_args, replace

DEFAULT_BASE_URL = "https://api.binance.com"  # api.binance.us for US users
PAGE = 1000
INTERVALS_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000}



@functools.cache
def arrow_schema() -> pa.Schema:
    """The `klines` table's columns, from its contract (schemas/kline.schema.json)."""
    contract = json.loads((settings.REPO / "schemas/kline.schema.json").read_text())
    fields = []
    for name, spec in contract["properties"].items():
        column = spec.get("x-column", {})
        if column.get("type") == "decimal":
            kind = pa.decimal128(column["precision"], column["scale"])
        elif column.get("type") == "timestamp":
            kind = pa.timestamp(column["unit"], tz="UTC")
        else:
            kind = {"string": pa.string(), "integer": pa.int64()}[spec["type"]]
        fields.append(pa.field(name, kind, nullable=name not in contract["required"]))
    return pa.schema(fields)


class BackfillFailed(RuntimeError):
    pass


@dataclass
class DayReport:
    day: date
    written: dict = field(default_factory=dict)  # instrument_id -> rows
    rejected: dict = field(default_factory=dict)  # instrument_id -> rows left out


def base_url() -> str:
    return os.environ.get("TICKFLOW_BINANCE_REST_URL", DEFAULT_BASE_URL).rstrip("/")


def binance_instruments() -> dict:
    """Binance symbol -> instrument id, from the reference data."""
    with open(settings.REPO / "schemas/reference/instruments.csv") as f:
        return {row["binance_symbol"]: row["instrument_id"] for row in csv.DictReader(f) if row["binance_symbol"]}


def session() -> requests.Session:
    """Retries rate limits (429, 418) and server errors, honouring Retry-After."""
    retry = Retry(total=5, backoff_factor=0.5, status_forcelist=(418, 429, 500, 502, 503, 504),
                  allowed_methods=["GET"], respect_retry_after_header=True)
    http = requests.Session()
    http.mount("http://", HTTPAdapter(max_retries=retry))
    http.mount("https://", HTTPAdapter(max_retries=retry))
    return http


def fetch(http: requests.Session, url: str, symbol: str, interval: str, start_ms: int, end_ms: int) -> list:
    """Every kline of `symbol` opening in [start_ms, end_ms), in open-time order, once each."""
    found = {}
    cursor = start_ms
    while cursor < end_ms:
        response = http.get(f"{url}/api/v3/klines", timeout=30, params={
            "symbol": symbol, "interval": interval, "startTime": cursor, "endTime": end_ms - 1, "limit": PAGE})
        if response.status_code != 200:
            raise BackfillFailed(f"{symbol}: HTTP {response.status_code} from {url}: {response.text[:300]}")
        page = response.json()
        for kline in page:
            if start_ms <= kline[0] < end_ms:
                found[kline[0]] = kline
        if len(page) < PAGE:
            break
        cursor = page[-1][0] + INTERVALS_MS[interval]
    return [found[t] for t in sorted(found)]


def _decimal(text: str, scale: int) -> Decimal:
    value = Decimal(text)
    if value != value.quantize(Decimal(1).scaleb(-scale)) or value < 0:
        raise InvalidOperation(text)
    return value


def rows(klines: list, instrument_id: str, symbol: str, interval: str) -> tuple[list, int]:
    """Lake rows of `klines` and how many were left out for breaking a candle's invariants."""
    good, rejected = [], 0
    for k in klines:
        try:
            o, h, low, c = (_decimal(k[i], 8) for i in (1, 2, 3, 4))
            row = {
                "instrument_id": instrument_id, "venue": "binance", "venue_symbol": symbol, "interval": interval,
                "open_time_us": datetime.fromtimestamp(k[0] / 1000, timezone.utc),
                "close_time_us": datetime.fromtimestamp(k[6] / 1000, timezone.utc),
                "open": o, "high": h, "low": low, "close": c, "volume": _decimal(k[5], 8),
                "quote_volume": _decimal(k[7], 16), "trade_count": int(k[8]),
                "taker_buy_volume": _decimal(k[9], 8), "taker_buy_quote_volume": _decimal(k[10], 16),
            }
        except (InvalidOperation, IndexError, TypeError, ValueError):
            rejected += 1
            continue
        if h < max(o, c) or low > min(o, c) or row["trade_count"] < 0 or k[6] < k[0]:
            rejected += 1
            continue
        good.append(row)
    return good, rejected


def day_file(lake, day: date, instrument_id: str, interval: str):
    return lake / "klines" / f"date={day.isoformat()}" / f"symbol={instrument_id}" / f"klines-binance-{interval}.parquet"


def write(path, lake_rows: list) -> None:
    """Replaces the day's file at `path` (on disk or in S3) with `lake_rows`, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(lake_rows, schema=arrow_schema()), compression="zstd",
                   **parquet_writer_args(temporary))
    replace(temporary, path)


def backfill_day(day: date, symbols: list[str] | None = None, interval: str = "1m", lake=None,
                 url: str | None = None) -> DayReport:
    """Fetches and writes `day` (UTC) for `symbols` (default: every Binance instrument) into `lake`
    (default settings.lake()) from `url` (default TICKFLOW_BINANCE_REST_URL)."""
    instruments = binance_instruments()
    unknown = sorted(set(symbols or []) - set(instruments))
    if unknown:
        raise BackfillFailed(f"not Binance instruments in schemas/reference/instruments.csv: {unknown}")
    start = datetime.combine(day, datetime.min.time(), timezone.utc)
    start_ms = int(start.timestamp() * 1000)
    end_ms = int((start + timedelta(days=1)).timestamp() * 1000)
    report, http = DayReport(day), session()
    url, lake = url or base_url(), lake or settings.lake()
    for symbol in symbols or sorted(instruments):
        instrument_id = instruments[symbol]
        good, rejected = rows(fetch(http, url, symbol, interval, start_ms, end_ms), instrument_id, symbol, interval)
        path = day_file(lake, day, instrument_id, interval)
        if good:
            write(path, good)
        else:
            path.unlink(missing_ok=True)  # the venue has nothing for the day (any more)
        report.written[instrument_id] = len(good)
        if rejected:
            report.rejected[instrument_id] = rejected
    return report
