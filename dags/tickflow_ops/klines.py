"""Historical klines (OHLCV bars) from the venues' REST APIs into the lake's `klines` table, one
UTC day at a time, whatever the source (tickflow_ops.kline_sources: Binance, Alpha Vantage,
Finnhub).

A day of one instrument from one source is one file,
`klines/date=<day>/symbol=<instrument_id>/klines-<venue>-<interval>.parquet`, replaced whole
(atomically), so backfilling a day again gives the same file. Columns follow
schemas/kline.schema.json; what a venue does not publish (trade counts, taker volumes) is null.
Rows that break a candle's invariants are counted and left out, never written.
"""

import functools
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.parquet as pq

from tickflow_ops import settings
from tickflow_ops.lake_paths import parquet_writer_args, replace
from tickflow_ops.venue_http import VenueError

INTERVALS_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000}
OPTIONAL = ("quote_volume", "trade_count", "taker_buy_volume", "taker_buy_quote_volume")


class BackfillFailed(RuntimeError):
    """A source could not be backfilled; the message names the cause and holds no secret."""


@dataclass(frozen=True)
class Bar:
    """One kline as a source read it: times in ms since the epoch (UTC), the open time inclusive and
    the close time as open + length - 1 ms; decimals as the venue's exact strings, or Decimals."""
    open_ms: int
    close_ms: int
    open: str | Decimal
    high: str | Decimal
    low: str | Decimal
    close: str | Decimal
    volume: str | Decimal
    quote_volume: str | Decimal | None = None
    trade_count: int | None = None
    taker_buy_volume: str | Decimal | None = None
    taker_buy_quote_volume: str | Decimal | None = None


@dataclass
class DayReport:
    source: str
    day: date
    written: dict = field(default_factory=dict)  # instrument_id -> rows
    rejected: dict = field(default_factory=dict)  # instrument_id -> rows left out

    def as_dict(self) -> dict:
        return {"source": self.source, "day": self.day.isoformat(), "written": self.written, "rejected": self.rejected}


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
            kind = {"string": pa.string(), "integer": pa.int64()}[_json_type(spec)]
        fields.append(pa.field(name, kind, nullable=name not in contract["required"]))
    return pa.schema(fields)


def _json_type(spec: dict) -> str:
    kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    return next(k for k in kinds if k != "null")


def _decimal(value, scale: int) -> Decimal:
    """`value` as a non-negative Decimal of at most `scale` decimals; anything else is refused."""
    number = value if isinstance(value, Decimal) else Decimal(value)
    if not number.is_finite() or number < 0 or number != number.quantize(Decimal(1).scaleb(-scale)):
        raise InvalidOperation(str(value))
    return number


def _optional_decimal(value, scale: int) -> Decimal | None:
    return None if value is None else _decimal(value, scale)


def rows(bars: list[Bar], instrument_id: str, venue: str, symbol: str, interval: str) -> tuple[list, int]:
    """Lake rows of `bars` and how many were left out for breaking a candle's invariants."""
    good, rejected = [], 0
    for bar in bars:
        try:
            o, h, low, c = (_decimal(v, 8) for v in (bar.open, bar.high, bar.low, bar.close))
            row = {
                "instrument_id": instrument_id, "venue": venue, "venue_symbol": symbol, "interval": interval,
                "open_time_us": datetime.fromtimestamp(bar.open_ms / 1000, timezone.utc),
                "close_time_us": datetime.fromtimestamp(bar.close_ms / 1000, timezone.utc),
                "open": o, "high": h, "low": low, "close": c, "volume": _decimal(bar.volume, 8),
                "quote_volume": _optional_decimal(bar.quote_volume, 16),
                "trade_count": None if bar.trade_count is None else int(bar.trade_count),
                "taker_buy_volume": _optional_decimal(bar.taker_buy_volume, 8),
                "taker_buy_quote_volume": _optional_decimal(bar.taker_buy_quote_volume, 16),
            }
        except (InvalidOperation, TypeError, ValueError):
            rejected += 1
            continue
        if (h < max(o, c) or low > min(o, c) or (row["trade_count"] or 0) < 0 or bar.close_ms < bar.open_ms
                or o == 0 or low == 0):
            rejected += 1
            continue
        good.append(row)
    return good, rejected


def day_file(lake, day: date, instrument_id: str, interval: str, venue: str = "binance"):
    return lake / "klines" / f"date={day.isoformat()}" / f"symbol={instrument_id}" / f"klines-{venue}-{interval}.parquet"


def write(path, lake_rows: list) -> None:
    """Replaces the day's file at `path` (on disk or in S3) with `lake_rows`, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(lake_rows, schema=arrow_schema()), compression="zstd",
                   **parquet_writer_args(temporary))
    replace(temporary, path)


def day_bounds_ms(day: date) -> tuple[int, int]:
    """[start, end) of the UTC day in ms since the epoch."""
    start = datetime.combine(day, datetime.min.time(), timezone.utc)
    return int(start.timestamp() * 1000), int((start + timedelta(days=1)).timestamp() * 1000)


def backfill_day(day: date, symbols: list[str] | None = None, interval: str = "1m", lake=None,
                 url: str | None = None, source: str = "binance") -> DayReport:
    """Fetches and writes `day` (UTC) for `symbols` (the source's symbols or instrument ids; default:
    every instrument it serves) into `lake` (default settings.lake()) from `source` at `url`
    (default: the source's variable, e.g. TICKFLOW_BINANCE_REST_URL)."""
    from tickflow_ops.kline_sources import open_source

    feed = open_source(source, url)
    if interval not in feed.intervals:
        raise BackfillFailed(f"{source} has no {interval} klines (it has {', '.join(feed.intervals)})")
    wanted = feed.resolve(symbols)
    start_ms, end_ms = day_bounds_ms(day)
    report, lake = DayReport(source, day), lake or settings.lake()
    for symbol, instrument_id in wanted.items():
        try:
            fetched = feed.fetch(symbol, interval, start_ms, end_ms)
        except VenueError as error:
            raise BackfillFailed(str(error)) from None
        bars = {b.open_ms: b for b in fetched if b and start_ms <= b.open_ms < end_ms}  # once per open time
        good, rejected = rows([bars[t] for t in sorted(bars)], instrument_id, feed.venue, symbol, interval)
        rejected += sum(b is None for b in fetched)
        path = day_file(lake, day, instrument_id, interval, feed.venue)
        if good:
            write(path, good)
        else:
            path.unlink(missing_ok=True)  # the venue has nothing for the day (any more)
        report.written[instrument_id] = len(good)
        if rejected:
            report.rejected[instrument_id] = rejected
    return report
