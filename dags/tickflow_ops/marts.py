"""Building the marts (scripts/marts.sh: dbt build, then an atomic publish) and running other
dbt commands in the project's dbt environment."""

import json
import os
import subprocess
from datetime import date, datetime
from pathlib import Path

import duckdb

from tickflow_ops import settings


class DbtFailed(RuntimeError):
    """A dbt command exited non-zero; the message ends with its output."""


def _run(command: list[str], cwd: Path, env: dict) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise DbtFailed(f"{' '.join(command[:3])} ... exited {result.returncode}:\n{output[-6000:]}")
    return output


def _environment(**extra: str) -> dict:
    return dict(os.environ, LAKE_URL=str(settings.lake()), TICKFLOW_WAREHOUSE=str(settings.warehouse()),
                TICKFLOW_DBT_VENV=str(settings.dbt_venv()), **extra)


def build(from_date: date | None = None) -> str:
    """Builds and tests the marts (rebuilding incremental marts from `from_date` on) and, if every
    test passes, publishes them; raises DbtFailed otherwise, leaving the published marts as they were."""
    arguments = ["--vars", json.dumps({"from_date": from_date.isoformat()})] if from_date else []
    return _run(["bash", str(settings.REPO / "scripts/marts.sh"), *arguments], settings.REPO, _environment())


def dbt(*arguments: str, database: str, target_path: str) -> str:
    """Runs `dbt <arguments>` against `database` (a DuckDB file or :memory:), with its own target
    path so it never shares dbt's state with a concurrent build."""
    command = [str(settings.dbt_venv() / "bin/dbt"), *arguments, "--profiles-dir", ".", "--target-path", target_path,
               "--log-path", f"{target_path}/logs"]
    return _run(command, settings.REPO / "dbt_project", _environment(TICKFLOW_WAREHOUSE_BUILD=database))


def interval_summary(start: datetime, end: datetime) -> dict:
    """What the published marts hold for [start, end): trades, 1 min candles, anomalies."""
    with duckdb.connect(str(settings.published_marts()), read_only=True) as db:
        db.execute("set TimeZone = 'UTC'")
        counts = db.execute(
            """select (select count(*) from fct_trades where event_time >= $1 and event_time < $2),
                      (select count(*) from fct_candles_1m where window_start >= $1 and window_start < $2),
                      (select count(*) from fct_anomalies where window_start >= $1 and window_start < $2)""",
            [start, end]).fetchone()
    return dict(zip(["trades", "candles_1m", "anomalies"], counts))
