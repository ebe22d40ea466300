"""The klines backfill against a local server speaking Binance's REST klines protocol, without
Airflow: a day fetched in pages and written once per instrument with the served values, the same
file on a second run, rate limits retried, bad rows counted and left out, errors reported."""

from datetime import date, datetime, timezone
from decimal import Decimal

import duckdb
import pytest

from fake_venues import FakeBinanceRest, kline
from tickflow_ops import klines

DAY = date(2026, 11, 20)
DAY_MS = int(datetime(2026, 11, 20, tzinfo=timezone.utc).timestamp() * 1000)


@pytest.fixture
def binance(tmp_path, monkeypatch):
    server = FakeBinanceRest()
    monkeypatch.setenv("TICKFLOW_BINANCE_REST_URL", server.url)
    monkeypatch.setenv("LAKE_URL", str(tmp_path / "lake"))
    yield server
    server.close()


def read(path):
    with duckdb.connect() as db:
        return db.execute(f"select * from read_parquet('{path}') order by open_time_us").fetchall()


def test_a_day_is_fetched_in_pages_and_written_with_the_served_values(binance, tmp_path):
    report = klines.backfill_day(DAY, ["BTCUSDT", "ETHUSDT"])
    assert report.written == {"BTC-USDT": 1440, "ETH-USDT": 1440} and report.rejected == {}
    assert [(r["symbol"], int(r["startTime"]), r["limit"]) for r in binance.kline_requests[:2]] == [
        ("BTCUSDT", DAY_MS, "1000"), ("BTCUSDT", DAY_MS + 1000 * 60_000, "1000")]
    assert len(binance.kline_requests) == 4
    rows = read(klines.day_file(tmp_path / "lake", DAY, "BTC-USDT", "1m"))
    assert len(rows) == 1440 and len({row[4] for row in rows}) == 1440
    served = kline("BTCUSDT", DAY_MS + 17 * 60_000)
    row = rows[17]
    assert row[:4] == ("BTC-USDT", "binance", "BTCUSDT", "1m")
    assert int(row[4].timestamp() * 1000) == served[0]
    assert row[6:11] == tuple(Decimal(v) for v in served[1:6]) and row[12] == served[8]


def test_backfilling_a_day_again_gives_the_same_file(binance, tmp_path):
    klines.backfill_day(DAY, ["BTCUSDT"])
    path = klines.day_file(tmp_path / "lake", DAY, "BTC-USDT", "1m")
    first = path.read_bytes()
    klines.backfill_day(DAY, ["BTCUSDT"])
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_rate_limits_are_retried_after_the_venues_delay(binance):
    binance.throttle_next = 2
    assert klines.backfill_day(DAY, ["BTCUSDT"]).written == {"BTC-USDT": 1440}
    assert len(binance.kline_requests) == 4


def test_rows_that_break_candle_invariants_are_counted_and_left_out(binance, tmp_path):
    binance.broken = {("BTCUSDT", DAY_MS + 5 * 60_000)}
    report = klines.backfill_day(DAY, ["BTCUSDT"])
    assert report.written == {"BTC-USDT": 1439} and report.rejected == {"BTC-USDT": 1}
    times = [int(row[4].timestamp() * 1000) for row in read(klines.day_file(tmp_path / "lake", DAY, "BTC-USDT", "1m"))]
    assert DAY_MS + 5 * 60_000 not in times and len(times) == 1439


def test_a_symbol_outside_the_reference_data_is_refused_before_any_request(binance):
    with pytest.raises(klines.BackfillFailed, match="NOPEUSDT"):
        klines.backfill_day(DAY, ["NOPEUSDT"])
    assert binance.kline_requests == []


def test_a_venue_error_is_reported_with_its_message(binance):
    binance.symbols.discard("ETHUSDT")
    with pytest.raises(klines.BackfillFailed, match="Invalid symbol"):
        klines.backfill_day(DAY, ["ETHUSDT"])
