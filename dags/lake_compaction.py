"""Compacts each closed day of the lake once a day: per table, date and symbol, the lake-writer's
small files become one, with row counts and a checksum of the rows proven unchanged before any
input is deleted. Idempotent; safe next to a running lake-writer (tickflow_ops/compaction.py)."""

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, dag, task

from tickflow_ops.dag_defaults import dag_arguments


@dag(schedule=CronDataIntervalTimetable("15 1 * * *", timezone="UTC"),  # 01:15: after the late-data grace
     **dag_arguments(__doc__, tag="lake", retries=2, retry_delay=timedelta(minutes=5)))
def tickflow_lake_compaction():
    @task
    def compact_closed_day(data_interval_start=None, data_interval_end=None, dag_run=None):
        from dataclasses import asdict

        from tickflow_ops import compaction, settings

        from tickflow_ops.intervals import DAILY, interval

        run_after = getattr(dag_run, "run_after", None)
        start, _ = interval(data_interval_start, data_interval_end, run_after, DAILY, timedelta(hours=1, minutes=15))
        report = compaction.compact_day(settings.lake(), start.date(), now=datetime.now(timezone.utc))
        return asdict(report) | {"day": report.day.isoformat()}

    compact_closed_day()


tickflow_lake_compaction()
