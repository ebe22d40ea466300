"""The Airflow DAGs: they import without top-level IO and with retries, and each one runs with
dag.test() (SQLite metadata database) against the real pipeline's fixture lake or a local Binance
REST stand-in, doing what it says."""

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from fake_venues import FakeAlphaVantage, FakeBinanceRest, FakeFinnhub
from test_compaction import fingerprints

REPO = Path(__file__).resolve().parents[2]
DAG_IDS = {"tickflow_marts_hourly", "tickflow_data_quality", "tickflow_lake_compaction", "tickflow_klines_backfill",
           "tickflow_pipeline_health", "tickflow_daily_report"}


def integrity(airflow, folder):
    output = airflow.python("tests/analytics/dag_integrity.py", str(folder)).stdout
    line = next(line for line in output.splitlines() if line.startswith("DAG-INTEGRITY "))
    return json.loads(line.removeprefix("DAG-INTEGRITY "))


def test_every_dag_imports_without_top_level_io_and_retries_its_tasks(airflow, tmp_path):
    report = integrity(airflow, REPO / "dags")
    assert report["import_errors"] == {}
    assert set(report["dags"]) == DAG_IDS
    assert all(retries >= 1 for dag in report["dags"].values() for retries in dag["retries"].values()), report
    assert report["io"] == {}

    # The check sees IO at parse time: the same DAG file, reading a file when imported.
    shutil.copytree(REPO / "dags", tmp_path / "dags")
    (tmp_path / "probe.txt").write_text("x")
    with open(tmp_path / "dags/marts_hourly.py", "a") as f:
        f.write(f"\nopen({str(tmp_path / 'probe.txt')!r}).read()\n")
    assert list(integrity(airflow, tmp_path / "dags")["io"]) == ["marts_hourly.py"]


@pytest.fixture(scope="module")
def hourly(airflow, lake, tmp_path_factory):
    """The hourly DAG's run for 22:00-23:00 on the fixture market's day, into a new warehouse."""
    warehouse = tmp_path_factory.mktemp("dag-warehouse")
    run = airflow.test_dag("tickflow_marts_hourly", "2023-11-14T23:00:00+00:00",
                           LAKE_URL=str(lake[0]), TICKFLOW_WAREHOUSE=str(warehouse), DBT_TARGET="ci")
    return run, warehouse


def test_the_hourly_dag_builds_tests_and_publishes_the_marts(hourly, lake):
    run, warehouse = hourly
    assert run["state"] == "success", run["log"][-4000:]
    assert run["data_interval"] == ["2023-11-14 22:00:00+00:00", "2023-11-14 23:00:00+00:00"]
    start, end = (int(datetime(2023, 11, 14, h, tzinfo=timezone.utc).timestamp() * 1e6) for h in (22, 23))
    in_interval = sum(start <= t["event_time_us"] < end for t in lake[1].trades)
    assert run["returned"]["summarize_interval"]["trades"] == in_interval == len(lake[1].trades)
    with duckdb.connect(str(warehouse / "marts.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from fct_trades").fetchone()[0] == len(lake[1].trades)


def test_the_quality_dag_fails_loudly_on_a_stale_lake_and_runs_every_other_check(airflow, hourly, lake):
    _, warehouse = hourly
    run = airflow.test_dag("tickflow_data_quality", "2023-11-14T23:30:00+00:00",
                           LAKE_URL=str(lake[0]), TICKFLOW_WAREHOUSE=str(warehouse), DBT_TARGET="ci")
    assert run["state"] == "failed"
    assert run["tasks"] == {"source_freshness": "failed", "rebuild_marts_from_lake": "success",
                            "marts_tests": "success", "realtime_reconciliation": "success"}, run["log"][-4000:]
    assert "the lake is stale" in run["log"] and "ERROR STALE" in run["log"]
    assert run["returned"]["realtime_reconciliation"]["windows_compared"] > 0


def test_the_quality_dag_reports_trades_missing_from_the_lake(airflow, hourly, lake, tmp_path):
    _, warehouse = hourly
    damaged = shutil.copytree(lake[0], tmp_path / "lake")
    biggest = max(damaged.glob("trades/*/*/*.parquet"), key=lambda p: p.stat().st_size)
    biggest.unlink()
    copy = shutil.copytree(warehouse, tmp_path / "warehouse")
    run = airflow.test_dag("tickflow_data_quality", "2023-11-14T23:30:00+00:00",
                           LAKE_URL=str(damaged), TICKFLOW_WAREHOUSE=str(copy), DBT_TARGET="ci")
    assert run["tasks"]["marts_tests"] == "failed" and run["tasks"]["realtime_reconciliation"] == "failed"
    assert "one-minute candles differ between the stream and the lake's trades" in run["log"]
    assert biggest.parent.name.removeprefix("symbol=") in run["log"]


def test_the_compaction_dag_compacts_the_closed_day_once(airflow, lake, tmp_path):
    copy = shutil.copytree(lake[0], tmp_path / "lake")
    before = fingerprints(copy)
    first = airflow.test_dag("tickflow_lake_compaction", "2023-11-15T01:15:00+00:00", LAKE_URL=str(copy))
    assert first["state"] == "success", first["log"][-4000:]
    report = first["returned"]["compact_closed_day"]
    assert report["day"] == "2023-11-14" and report["folders"] > 0 and report["files_after"] < report["files_before"]
    assert fingerprints(copy) == before
    second = airflow.test_dag("tickflow_lake_compaction", "2023-11-15T01:15:00+00:00", LAKE_URL=str(copy))
    assert second["returned"]["compact_closed_day"]["folders"] == 0 and fingerprints(copy) == before


def test_the_backfill_dag_writes_its_day_of_klines_idempotently(airflow, tmp_path):
    """Binance runs; Alpha Vantage and Finnhub serve no BTCUSDT, so they are skipped and say why."""
    binance = FakeBinanceRest()
    try:
        environment = {"LAKE_URL": str(tmp_path / "lake"), "TICKFLOW_BINANCE_REST_URL": binance.url,
                       "ALPHAVANTAGE_API_KEY": "", "FINNHUB_API_KEY": ""}
        runs = [airflow.test_dag("tickflow_klines_backfill", "2026-11-21T00:30:00+00:00",
                                 {"symbols": ["BTCUSDT"]}, **environment) for _ in range(2)]
    finally:
        binance.close()
    for run in runs:
        assert run["state"] == "success", run["log"][-4000:]
        assert run["tasks"] == {"backfill_binance": "success", "backfill_alphavantage": "skipped",
                                "backfill_finnhub": "skipped"}, run["tasks"]
        assert run["returned"]["backfill_binance"]["written"] == {"BTC-USDT": 1440}
    assert "alphavantage serves none of ['BTCUSDT']" in runs[0]["log"]
    files = list((tmp_path / "lake/klines").rglob("*.parquet"))
    assert [f.relative_to(tmp_path / "lake").as_posix() for f in files] == [
        "klines/date=2026-11-20/symbol=BTC-USDT/klines-binance-1m.parquet"]
    assert {r["symbol"] for r in binance.kline_requests} == {"BTCUSDT"} and len(binance.kline_requests) == 4


def test_the_backfill_dag_reads_every_source_and_keeps_their_keys_out_of_its_log(airflow, tmp_path):
    """All three sources for two instruments with canary keys; one Alpha Vantage answer is a
    per-minute refusal (HTTP 200), which is waited out. The keys appear in no line of the run's
    output (task logs included) and in no returned value."""
    keys = {"ALPHAVANTAGE_API_KEY": "av-canary-5d1e0b", "FINNHUB_API_KEY": "fh-canary-93c2aa"}
    servers = [FakeBinanceRest(), FakeAlphaVantage(keys["ALPHAVANTAGE_API_KEY"]), FakeFinnhub(keys["FINNHUB_API_KEY"])]
    servers[1].refusals = [{"Note": "Our standard API call frequency is 5 calls per minute."}]
    try:
        environment = {"LAKE_URL": str(tmp_path / "lake"), "TICKFLOW_BINANCE_REST_URL": servers[0].url,
                       "TICKFLOW_ALPHAVANTAGE_URL": servers[1].url, "TICKFLOW_FINNHUB_REST_URL": f"{servers[2].url}/api/v1",
                       "TICKFLOW_ALPHAVANTAGE_THROTTLE_WAIT_S": "0.1", **keys}
        run = airflow.test_dag("tickflow_klines_backfill", "2026-11-21T00:30:00+00:00",
                               {"symbols": ["BTC-USDT", "AAPL"]}, **environment)
    finally:
        for server in servers:
            server.close()
    assert run["state"] == "success", run["log"][-4000:]
    assert {task: value["written"] for task, value in run["returned"].items()} == {
        "backfill_binance": {"BTC-USDT": 1440}, "backfill_alphavantage": {"AAPL": 960},
        "backfill_finnhub": {"BTC-USDT": 1440, "AAPL": 390}}
    files = sorted(f.relative_to(tmp_path / "lake/klines").as_posix() for f in (tmp_path / "lake/klines").rglob("*.parquet"))
    assert files == ["date=2026-11-20/symbol=AAPL/klines-alphavantage-1m.parquet",
                     "date=2026-11-20/symbol=AAPL/klines-finnhub-1m.parquet",
                     "date=2026-11-20/symbol=BTC-USDT/klines-binance-1m.parquet",
                     "date=2026-11-20/symbol=BTC-USDT/klines-finnhub-1m.parquet"]
    assert len(servers[1].months) == 2, "the refused request was made again"
    for key in keys.values():
        assert key not in run["log"] and key not in json.dumps(run["returned"])
