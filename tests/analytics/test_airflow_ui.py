"""The DAGs triggered the way Airflow's UI triggers them, against a running `scripts/airflow.sh`
(`airflow standalone`: scheduler, DAG processor, API server, LocalExecutor): a POST to the public
API's dagRuns endpoint with no logical date (the trigger button), or with one and the params form's
conf. Every run must do what it should. Then the same Airflow is stopped with SIGTERM (the script
handles Ctrl-C's SIGINT the same way): its LocalExecutor workers are sized for the machine, and
every Airflow process is gone within seconds."""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from fake_venues import FakeBinanceRest
from pipeline import free_port
from tickflow_ops.kline_sources import open_source

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STARTUP_S = 300
RUN_S = 600
CALL_S = 120


def airflow_processes(group):
    """(pid, command line) of every process in the process group."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != group:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found.append((int(pid), f.read().replace(b"\0", b" ").decode(errors="replace").strip()))
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return found


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.token = None

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        # Generous: on two busy cores Airflow's API server has taken over 30 s to answer while the
        # scheduler starts a DAG's first tasks; this test is about what the runs do, not how fast.
        with urllib.request.urlopen(request, timeout=CALL_S) as response:
            return json.loads(response.read() or b"null")

    def wait_until_up(self, process, deadline):
        """The API answers, a token is issued (every local user is admin) and the DAGs are parsed."""
        problem = None
        while time.monotonic() < deadline:
            assert process.poll() is None, f"airflow.sh exited with {process.returncode}"
            try:
                self.token = self.call("GET", "/auth/token")["access_token"]
                dags = {d["dag_id"] for d in self.call("GET", "/api/v2/dags?limit=100")["dags"]}
                if len(dags) >= 6:
                    return dags
                problem = f"DAGs parsed so far: {sorted(dags)}"
            except OSError as error:
                problem = error
            time.sleep(2)
        raise AssertionError(f"Airflow did not come up within {STARTUP_S} s: {problem}")


@pytest.fixture(scope="module")
def running_airflow(lake, tmp_path_factory):
    home, warehouse = tmp_path_factory.mktemp("airflow-ui-home"), tmp_path_factory.mktemp("airflow-ui-warehouse")
    # A copy: the backfills triggered here write klines into it.
    lake_copy = shutil.copytree(lake[0], tmp_path_factory.mktemp("airflow-ui-lake") / "lake")
    binance = FakeBinanceRest(symbols=tuple(open_source("binance").symbols()))  # a run without params takes them all
    port = free_port()
    log = open(home / "standalone.log", "w")
    env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW_PORT=str(port), LAKE_URL=str(lake_copy),
               TICKFLOW_WAREHOUSE=str(warehouse), TICKFLOW_BINANCE_REST_URL=binance.url, DBT_TARGET="ci",
               ALPHAVANTAGE_API_KEY="", FINNHUB_API_KEY="")
    env.pop("AIRFLOW__CORE__PARALLELISM", None)
    process = subprocess.Popen(["bash", "scripts/airflow.sh"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    api = Api(port)
    group = None
    try:
        dags = api.wait_until_up(process, time.monotonic() + STARTUP_S)
        group = airflow_group(process.pid)
        yield api, process, dags, home, group
    finally:
        # Whatever a failed test left: the script, and Airflow's own process group.
        for leader in filter(None, [group, process.pid]):
            try:
                os.killpg(leader, signal.SIGKILL)
            except ProcessLookupError:
                pass
        binance.close()
        log.close()


def trigger(api, dag_id, body):
    api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    return api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]


def wait_for(api, dag_id, run_id, home):
    deadline = time.monotonic() + RUN_S
    while time.monotonic() < deadline:
        run = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            tasks = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
            return run, {t["task_id"]: t["state"] for t in tasks}
        time.sleep(3)
    raise AssertionError(f"{dag_id} run {run_id} did not finish within {RUN_S} s; see {home}/standalone.log")


# The UI's trigger button without a logical date, for every DAG; and the params form with a date.
# The fixture lake holds a day of 2023, so the freshness check rightly fails (the lake is stale)
# while every other check passes.
NO_DATE = {"logical_date": None, "conf": {}}
# Without their keys, the Alpha Vantage and Finnhub backfills are skipped (and say so).
BINANCE_ONLY = {"backfill_binance": "success", "backfill_alphavantage": "skipped", "backfill_finnhub": "skipped"}
TRIGGERS = [
    ("tickflow_marts_hourly", NO_DATE, None),
    ("tickflow_data_quality", NO_DATE, {"source_freshness": "failed", "rebuild_marts_from_lake": "success",
                                        "marts_tests": "success", "realtime_reconciliation": "success"}),
    ("tickflow_lake_compaction", NO_DATE, None),
    ("tickflow_klines_backfill", NO_DATE, BINANCE_ONLY),
    ("tickflow_klines_backfill", {"logical_date": "2023-11-14T00:30:00Z", "conf": {"symbols": ["ETHUSDT"]}}, BINANCE_ONLY),
]


def test_every_dag_succeeds_when_triggered_from_the_ui_and_ctrl_c_stops_every_airflow_process(running_airflow):
    api, process, dags, home, group = running_airflow
    assert {dag_id for dag_id, _, _ in TRIGGERS} <= dags
    runs = [(dag_id, body, expected, trigger(api, dag_id, body)) for dag_id, body, expected in TRIGGERS]
    for dag_id, body, expected, run_id in runs:
        run, tasks = wait_for(api, dag_id, run_id, home)
        if expected is None:
            assert run["state"] == "success" and set(tasks.values()) == {"success"}, (dag_id, body, run, tasks)
        else:
            assert tasks == expected, (dag_id, body, run, tasks)
        if body["logical_date"] is None:
            assert run["data_interval_end"] is None or run["data_interval_end"] <= run["run_after"], run
    dated = api.call("GET", f"/api/v2/dags/tickflow_klines_backfill/dagRuns/{runs[-1][3]}")
    assert dated["conf"] == {"symbols": ["ETHUSDT"]} and dated["logical_date"].startswith("2023-11-14"), dated

    # LocalExecutor workers sized for the machine (Airflow's default would start 32).
    workers = [cmd for _, cmd in airflow_processes(group) if cmd.startswith("airflow worker -- LocalExecutor")]
    assert 1 <= len(workers) <= max(2, os.cpu_count()), workers
    process.send_signal(signal.SIGTERM)  # the script traps SIGINT (Ctrl-C) and SIGTERM alike
    assert process.wait(30) == 0
    deadline = time.monotonic() + 15
    while airflow_processes(group) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert airflow_processes(group) == [], "Airflow processes outlived the stop"


def airflow_group(script_pid):
    """The process group airflow.sh starts `airflow standalone` in (its own, led by that child)."""
    children = subprocess.run(["pgrep", "-P", str(script_pid)], capture_output=True, text=True).stdout.split()
    groups = {os.getpgid(int(child)) for child in children} - {os.getpgid(script_pid)}
    assert len(groups) == 1, (children, groups)
    return groups.pop()
