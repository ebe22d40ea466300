import functools
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dags"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))  # service_metrics

from fake_venues import FakeBinanceRest, binance_klines_from_trades  # noqa: E402
from fixture_lake import write_fixture_lake  # noqa: E402
from tickflow_ops import klines  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lake(tmp_path_factory):
    """(lake directory, truth): the real pipeline's lake of a known 20 000-trade market (2023-11-14),
    plus that day's klines of one Binance instrument (truth.kline_symbol: the busiest one with a
    feed gap) from the klines backfill, served as the venue would make them from the trades it
    executed (the market's trades and those its feed gaps lost)."""
    directory, truth = write_fixture_lake(tmp_path_factory.mktemp("fixture"), trades=20_000, faults_each=100)
    gapped = {gap[2] for gap in truth.gaps if gap[1] == "binance"}
    truth.kline_symbol = max(sorted(gapped), key=lambda s: sum(t["venue_symbol"] == s for t in truth.trades))
    binance = FakeBinanceRest(symbols=[truth.kline_symbol],
                              klines=binance_klines_from_trades(truth.trades, truth.gaps, truth.kline_symbol))
    try:
        klines.backfill_day(date(2023, 11, 14), [truth.kline_symbol], lake=directory, url=binance.url)
    finally:
        binance.close()
    return directory, truth


@functools.cache
def python_env(requirements):
    return subprocess.run(["bash", str(REPO / "scripts/python-env.sh"), str(REPO / requirements)],
                          capture_output=True, text=True, check=True).stdout.strip()


class Airflow:
    """Airflow in its own environment with a SQLite metadata database, the project's dags/ loaded."""

    def __init__(self, home):
        self.venv = python_env("dags/requirements.txt")
        # As scripts/airflow.sh does: dbt's environment exists before any task runs.
        self.env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
                        AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__UNIT_TEST_MODE="False",
                        TICKFLOW_DBT_VENV=python_env("dbt_project/requirements.txt"))
        self.run([f"{self.venv}/bin/airflow", "db", "migrate"])

    def run(self, command, **env):
        result = subprocess.run(command, env=self.env | env, capture_output=True, text=True, cwd=REPO)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result

    def python(self, script, *arguments, **env):
        return self.run([f"{self.venv}/bin/python", str(REPO / script), *arguments], **env)

    def test_dag(self, dag_id, logical_date, conf=None, **env):
        """dag.test() of one DAG: {"state", "tasks": {id: state}, "returned": {id: value}, "log"}
        (the log: everything the run printed, task logs included)."""
        arguments = [str(REPO / "dags"), dag_id, logical_date] + ([json.dumps(conf)] if conf else [])
        result = self.python("tests/analytics/run_dag.py", *arguments, **env)
        line = next(line for line in result.stdout.splitlines() if line.startswith("DAG-RUN-RESULT "))
        return json.loads(line.removeprefix("DAG-RUN-RESULT ")) | {"log": result.stdout + result.stderr}


@pytest.fixture(scope="session")
def airflow(tmp_path_factory):
    return Airflow(tmp_path_factory.mktemp("airflow-home"))


def publish_marts(lake_dir, warehouse):
    """scripts/marts.sh: dbt build of the marts from the lake, published to <warehouse>/marts.duckdb."""
    env = dict(os.environ, LAKE_URL=str(lake_dir), TICKFLOW_WAREHOUSE=str(warehouse), DBT_TARGET="ci")
    result = subprocess.run(["bash", str(REPO / "scripts/marts.sh")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.fixture(scope="session")
def published_marts(lake, tmp_path_factory):
    """A warehouse folder with the fixture lake's marts published in it."""
    directory = tmp_path_factory.mktemp("published")
    publish_marts(lake[0], directory)
    return directory


@pytest.fixture(scope="session")
def query_api(lake, published_marts, tmp_path_factory):
    """The query-api over the fixture lake and its published marts (no Kafka)."""
    from query_api import QueryApi
    service = QueryApi(lake[0], published_marts / "marts.duckdb", tmp_path_factory.mktemp("api-logs"), "--no-live").start()
    yield service
    service.stop()
