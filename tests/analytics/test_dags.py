"""The Airflow DAGs: they import without top-level IO and with retries, and each one runs with
dag.test() (SQLite metadata database) against the real pipeline's fixture lake or a local Binance
REST stand-in, doing what it says."""

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from fake_binance_rest import FakeBinanceRest
from test_compaction import fingerprints

REPO = Path(__file__).resolve().parents[2]
DAG_IDS = {"tickflow_marts_hourly", "tickflow_data_quality", "tickflow_lake_compaction", "tickflow_klines_backfill"}


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
    binance = FakeBinanceRest()
    try:
        environment = {"LAKE_URL": str(tmp_path / "lake"), "TICKFLOW_BINANCE_REST_URL": binance.url}
        runs = [airflow.test_dag("tickflow_klines_backfill", "2026-11-21T00:30:00+00:00",
                                 {"symbols": ["BTCUSDT"]}, **environment) for _ in range(2)]
    finally:
        binance.close()
    for run in runs:
        assert run["state"] == "success", run["log"][-4000:]
        assert run["returned"]["backfill_klines"]["written"] == {"BTC-USDT": 1440}
    files = list((tmp_path / "lake/klines").rglob("*.parquet"))
    assert [f.relative_to(tmp_path / "lake").as_posix() for f in files] == [
        "klines/date=2026-11-20/symbol=BTC-USDT/klines-binance-1m.parquet"]
    assert {r["symbol"] for r in binance.requests} == {"BTCUSDT"} and len(binance.requests) == 4
