"""What the scheduled batch jobs leave in the warehouse folder (TICKFLOW_WAREHOUSE, default
.tickflow/warehouse as the local stack uses): the pipeline-health DAG's table
(health/date=<day>/health-<HHMMSS>.parquet) and the daily reports (reports/daily/<day>.html).
Market data comes from the query-api; these files are read directly, read-only."""

import os
from datetime import date, datetime
from pathlib import Path

import pandas as pd

DEFAULT = Path(__file__).resolve().parents[1] / ".tickflow" / "warehouse"


def warehouse() -> Path:
    return Path(os.environ.get("TICKFLOW_WAREHOUSE") or DEFAULT)


def daily_reports() -> dict[date, Path]:
    """Day -> report file, newest day first."""
    folder = warehouse() / "reports" / "daily"
    found = {}
    for path in folder.glob("*.html"):
        try:
            found[date.fromisoformat(path.stem)] = path
        except ValueError:
            continue  # not a report
    return dict(sorted(found.items(), reverse=True))


def health_checks(since: datetime) -> pd.DataFrame:
    """The health table's rows of the intervals that started at or after `since`, oldest first."""
    files = [path for path in (warehouse() / "health").glob("date=*/health-*.parquet")
             if date.fromisoformat(path.parent.name.removeprefix("date=")) >= since.date()]
    if not files:
        return pd.DataFrame()
    rows = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
    rows = rows[rows["interval_start"] >= pd.Timestamp(since)]
    return rows.sort_values(["interval_start", "check_name", "subject"]).reset_index(drop=True)
