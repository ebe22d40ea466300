"""Builds the marts every hour: `dbt build` (models and every test) rebuilding the incremental marts
from the day of the data interval on, then an atomic publish to marts.duckdb. A failing test leaves
the published marts as they were."""

import logging
from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, dag, task

from tickflow_ops.dag_defaults import dag_arguments

log = logging.getLogger(__name__)


# One run at a time (the default): dbt builds share the build database.
@dag(schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
     **dag_arguments(__doc__, tag="marts", retries=2, retry_delay=timedelta(minutes=2)))
def tickflow_marts_hourly():
    @task
    def build_and_test_marts(data_interval_start=None, data_interval_end=None, dag_run=None):
        from tickflow_ops import marts
        from tickflow_ops.intervals import HOURLY, interval

        start, _ = interval(data_interval_start, data_interval_end, getattr(dag_run, "run_after", None), HOURLY)
        log.info("%s", marts.build(from_date=start.date())[-3000:])

    @task
    def summarize_interval(data_interval_start=None, data_interval_end=None, dag_run=None):
        from tickflow_ops import marts
        from tickflow_ops.intervals import HOURLY, interval

        start, end = interval(data_interval_start, data_interval_end, getattr(dag_run, "run_after", None), HOURLY)
        return marts.interval_summary(start, end)

    build_and_test_marts() >> summarize_interval()


tickflow_marts_hourly()
