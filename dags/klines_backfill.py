"""Backfills Binance 1 min klines into the lake's `klines` table, one UTC day per run. For a range:
`airflow backfill create --dag-id tickflow_klines_backfill --from-date 2026-01-01 --to-date 2026-01-31`.
The REST base URL is TICKFLOW_BINANCE_REST_URL (default https://api.binance.com; api.binance.us
for US users). Re-running a day replaces its files with the same rows."""

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from tickflow_ops.dag_defaults import dag_arguments


@dag(schedule=CronDataIntervalTimetable("30 0 * * *", timezone="UTC"),
     **dag_arguments(__doc__, tag="backfill", retries=3, retry_delay=timedelta(minutes=2), max_active_runs=4,
                     start_date=datetime(2017, 7, 1, tzinfo=timezone.utc),  # Binance spot opened in July 2017
                     params={"symbols": Param([], type="array",
                                              description="Binance symbols; empty for every Binance instrument")}))
def tickflow_klines_backfill():
    @task
    def backfill_klines(data_interval_start=None, data_interval_end=None, dag_run=None, params=None):
        from dataclasses import asdict

        from tickflow_ops import klines

        from tickflow_ops.intervals import DAILY, interval

        run_after = getattr(dag_run, "run_after", None)
        start, _ = interval(data_interval_start, data_interval_end, run_after, DAILY, timedelta(minutes=30))
        report = klines.backfill_day(start.date(), symbols=list(params["symbols"]) or None)
        return asdict(report) | {"day": report.day.isoformat()}

    backfill_klines()


tickflow_klines_backfill()
