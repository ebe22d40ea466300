"""Builds the marts every hour: `dbt build` (models and every test) rebuilding the incremental marts
from the day of the data interval on, then an atomic publish to marts.duckdb. A failing test leaves
the published marts as they were."""

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, dag, task


@dag(
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2020, 1, 1, tzinfo=timezone.utc),  # early, so past intervals can be rerun
    catchup=False,
    max_active_runs=1,  # one dbt build at a time: they share the build database
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["tickflow", "marts"],
    doc_md=__doc__,
)
def tickflow_marts_hourly():
    @task
    def build_and_test_marts(data_interval_start=None, data_interval_end=None, dag_run=None):
        import logging

        from tickflow_ops import marts
        from tickflow_ops.intervals import HOURLY, interval

        start, _ = interval(data_interval_start, data_interval_end, getattr(dag_run, "run_after", None), HOURLY)
        logging.getLogger(__name__).info("%s", marts.build(from_date=start.date())[-3000:])

    @task
    def summarize_interval(data_interval_start=None, data_interval_end=None, dag_run=None):
        from tickflow_ops import marts
        from tickflow_ops.intervals import HOURLY, interval

        start, end = interval(data_interval_start, data_interval_end, getattr(dag_run, "run_after", None), HOURLY)
        return marts.interval_summary(start, end)

    build_and_test_marts() >> summarize_interval()


tickflow_marts_hourly()
