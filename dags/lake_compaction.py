"""Compacts each closed day of the lake once a day: per table, date and symbol, the lake-writer's
small files become one, with row counts and a checksum of the rows proven unchanged before any
input is deleted. Idempotent; safe next to a running lake-writer (tickflow_ops/compaction.py)."""

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, dag, task


@dag(
    schedule=CronDataIntervalTimetable("15 1 * * *", timezone="UTC"),  # 01:15: after the late-data grace
    start_date=datetime(2020, 1, 1, tzinfo=timezone.utc),  # early, so past intervals can be rerun
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["tickflow", "lake"],
    doc_md=__doc__,
)
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
