"""The Alpha Vantage and Finnhub klines sources against local servers speaking their formats,
without Airflow: a UTC day from US/Eastern labels, refusals that come as HTTP 200, `no_data`,
premium-only endpoints, rate limits, floats, and API keys that reach no error and no log."""

import logging
import socket
from datetime import date, datetime, timezone

import duckdb
import pytest

from fake_venues import EASTERN, FakeAlphaVantage, FakeFinnhub, bar, eastern_ms
from tickflow_ops import klines
from tickflow_ops.kline_sources import SourceNotConfigured, open_source

KEY = "canary-key-7f3a91c2"
FRIDAY = date(2026, 11, 20)  # US/Eastern is UTC-5: the UTC day is 19:00 Thursday to 19:00 Friday, Eastern


def read(path):
    with duckdb.connect() as db:
        return db.execute(f"select open_time_us, open, high, low, close, volume, trade_count, venue, venue_symbol "
                          f"from read_parquet('{path}') order by open_time_us").fetchall()


@pytest.fixture
def alphavantage(tmp_path, monkeypatch):
    server = FakeAlphaVantage(KEY)
    for name, value in {"TICKFLOW_ALPHAVANTAGE_URL": server.url, "ALPHAVANTAGE_API_KEY": KEY,
                        "LAKE_URL": str(tmp_path / "lake"), "TICKFLOW_ALPHAVANTAGE_THROTTLE_WAIT_S": "0.01"}.items():
        monkeypatch.setenv(name, value)
    yield server
    server.close()


@pytest.fixture
def finnhub(tmp_path, monkeypatch):
    server = FakeFinnhub(KEY)
    for name, value in {"TICKFLOW_FINNHUB_REST_URL": f"{server.url}/api/v1", "FINNHUB_API_KEY": KEY,
                        "LAKE_URL": str(tmp_path / "lake")}.items():
        monkeypatch.setenv(name, value)
    yield server
    server.close()


def test_alpha_vantage_eastern_labels_become_the_utc_day(alphavantage, tmp_path):
    report = klines.backfill_day(FRIDAY, ["AAPL"], source="alphavantage")
    # Thursday 19:00-19:59 and Friday 04:00-18:59 Eastern fall in the UTC day.
    assert report.written == {"AAPL": 60 + 15 * 60} and report.rejected == {}
    rows = read(klines.day_file(tmp_path / "lake", FRIDAY, "AAPL", "1m", "alphavantage"))
    opening = datetime(2026, 11, 20, 9, 30, tzinfo=EASTERN)
    row = next(r for r in rows if r[0] == opening)
    assert row[0] == datetime(2026, 11, 20, 14, 30, tzinfo=timezone.utc)
    o, h, low, c, volume, _ = bar("AAPL", eastern_ms(opening))
    assert row[1:] == (o, h, low, c, volume * 1000, None, "alphavantage", "AAPL")
    assert rows[0][0] == datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)  # Thursday 19:00 Eastern
    assert rows[-1][0] == datetime(2026, 11, 20, 23, 59, tzinfo=timezone.utc)  # Friday 18:59 Eastern
    query = alphavantage.requests[0][1]
    assert query | {"apikey": "-"} == {"function": "TIME_SERIES_INTRADAY", "symbol": "AAPL", "interval": "1min",
                                       "outputsize": "full", "month": "2026-11", "adjusted": "false",
                                       "extended_hours": "true", "datatype": "json", "apikey": "-"}


def test_alpha_vantage_in_summer_time_and_across_a_month_boundary(alphavantage, tmp_path):
    july = klines.backfill_day(date(2026, 7, 15), ["AAPL"], source="alphavantage")  # UTC-4
    rows = read(klines.day_file(tmp_path / "lake", date(2026, 7, 15), "AAPL", "1m", "alphavantage"))
    assert july.written == {"AAPL": 16 * 60} and rows[0][0] == datetime(2026, 7, 15, 8, 0, tzinfo=timezone.utc)
    alphavantage.requests.clear()
    klines.backfill_day(date(2026, 12, 1), ["AAPL"], source="alphavantage")  # 19:00 Nov 30 Eastern onwards
    assert alphavantage.months == [("AAPL", "2026-11"), ("AAPL", "2026-12")]


def test_alpha_vantage_per_minute_limits_are_waited_out(alphavantage):
    alphavantage.refusals = [{"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is "
                                      "5 calls per minute and 500 calls per day."}] * 2
    assert klines.backfill_day(FRIDAY, ["AAPL"], source="alphavantage").written == {"AAPL": 960}
    assert len(alphavantage.months) == 3


@pytest.mark.parametrize("body, cause", [
    ({"Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day."},
     "'Information'.*25 requests per day"),
    ({"Error Message": "Invalid API call. Please retry."}, "'Error Message'.*Invalid API call"),
])
def test_alpha_vantage_refusals_in_http_200_fail_the_day_without_writing(alphavantage, tmp_path, body, cause):
    alphavantage.refusals = [body]
    with pytest.raises(klines.BackfillFailed, match=cause):
        klines.backfill_day(FRIDAY, ["AAPL"], source="alphavantage")
    assert not (tmp_path / "lake").exists()


def test_alpha_vantage_backfills_a_day_again_to_the_same_file(alphavantage, tmp_path):
    klines.backfill_day(FRIDAY, ["AAPL"], source="alphavantage")
    path = klines.day_file(tmp_path / "lake", FRIDAY, "AAPL", "1m", "alphavantage")
    first = path.read_bytes()
    klines.backfill_day(FRIDAY, ["AAPL"], source="alphavantage")
    assert path.read_bytes() == first


def test_finnhub_candles_with_the_key_in_a_header_and_floats_rounded(finnhub, tmp_path):
    report = klines.backfill_day(FRIDAY, ["AAPL", "BTC-USDT"], source="finnhub")
    assert report.written == {"AAPL": 390, "BTC-USDT": 1440}
    paths, queries = [path for path, _, _ in finnhub.requests], [q for _, q, _ in finnhub.requests]
    assert paths == ["/api/v1/stock/candle", "/api/v1/crypto/candle"]
    assert queries[1] == {"symbol": "BINANCE:BTCUSDT", "resolution": "1", "from": str(1_795_132_800),
                          "to": str(1_795_132_800 + 86_399)}
    assert all(KEY not in str(q) for q in queries) and all(h["X-Finnhub-Token"] == KEY for _, _, h in finnhub.requests)
    rows = read(klines.day_file(tmp_path / "lake", FRIDAY, "BTC-USDT", "1m", "finnhub"))
    o, h, low, c, volume, _ = bar("BINANCE:BTCUSDT", 1_795_132_800_000 + 60_000)
    assert rows[1][1:] == (o, h, low, c, volume, None, "finnhub", "BINANCE:BTCUSDT")


def test_finnhub_no_data_is_an_empty_day_not_an_error(finnhub, tmp_path):
    saturday = date(2026, 11, 21)
    klines.day_file(tmp_path / "lake", saturday, "AAPL", "1m", "finnhub").parent.mkdir(parents=True)
    klines.day_file(tmp_path / "lake", saturday, "AAPL", "1m", "finnhub").write_bytes(b"stale")
    assert klines.backfill_day(saturday, ["AAPL"], source="finnhub").written == {"AAPL": 0}
    assert not klines.day_file(tmp_path / "lake", saturday, "AAPL", "1m", "finnhub").exists()


def test_finnhub_without_candle_access_or_over_the_limit(finnhub):
    finnhub.throttle_next = 2
    assert klines.backfill_day(FRIDAY, ["AAPL"], source="finnhub").written == {"AAPL": 390}
    finnhub.premium = False
    with pytest.raises(klines.BackfillFailed, match="HTTP 403: You don't have access to this resource"):
        klines.backfill_day(FRIDAY, ["AAPL"], source="finnhub")


def test_a_source_without_its_key_is_not_configured(monkeypatch):
    monkeypatch.delenv("FINNHUB_API_KEY", raising=False)
    with pytest.raises(SourceNotConfigured, match="FINNHUB_API_KEY is not set"):
        open_source("finnhub")


def test_keys_reach_no_error_and_no_log(alphavantage, monkeypatch, caplog):
    """Alpha Vantage takes its key in the query string: connection failures and refusals are
    reported, at DEBUG too, without it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("TICKFLOW_ALPHAVANTAGE_URL", closed)
    monkeypatch.setenv("TICKFLOW_VENUE_BACKOFF_S", "0.01")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(klines.BackfillFailed) as refused:
        klines.backfill_day(FRIDAY, ["AAPL"], source="alphavantage")
    assert "Connection" in str(refused.value) and "apikey=***" in str(refused.value)
    monkeypatch.setenv("TICKFLOW_ALPHAVANTAGE_URL", alphavantage.url)
    alphavantage.refusals = [{"Information": f"the key {KEY} is premium only"}]
    with pytest.raises(klines.BackfillFailed) as premium:
        klines.backfill_day(FRIDAY, ["AAPL"], source="alphavantage")
    klines.backfill_day(FRIDAY, ["AAPL"], source="alphavantage")
    assert any("GET /query" in r.getMessage() for r in caplog.records), "urllib3 logged the requests"
    assert KEY not in str(refused.value) + str(premium.value)
    assert not [r.getMessage() for r in caplog.records if KEY in r.getMessage()]
