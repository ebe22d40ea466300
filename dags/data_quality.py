"""Checks the lake and the marts every hour, failing loudly: source freshness (error after a day
without new data), every dbt test on the marts rebuilt from the lake as it is now, and the
realtime-versus-batch reconciliation of 1 min candles (counts and volumes must match exactly)."""

import logging
from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, TriggerRule, dag, task

from tickflow_ops.dag_defaults import dag_arguments

log = logging.getLogger(__name__)


# One run at a time (the default): the checks share their scratch copy of the marts.
@dag(schedule=CronDataIntervalTimetable("30 * * * *", timezone="UTC"),
     **dag_arguments(__doc__, tag="quality", retries=1, retry_delay=timedelta(minutes=1)))
def tickflow_data_quality():
    @task
    def source_freshness():
        from tickflow_ops import quality

        log.info("%s", quality.source_freshness()[-3000:])

    @task
    def rebuild_marts_from_lake(data_interval_start=None, data_interval_end=None, dag_run=None):
        from tickflow_ops import quality

        from tickflow_ops.intervals import HOURLY, interval

        offset = timedelta(minutes=30)  # the schedule's :30
        run_after = getattr(dag_run, "run_after", None)
        start, _ = interval(data_interval_start, data_interval_end, run_after, HOURLY, offset)
        log.info("%s", quality.rebuild_scratch(from_date=(start - timedelta(days=1)).date())[-3000:])

    @task
    def marts_tests():
        from tickflow_ops import quality

        log.info("%s", quality.marts_tests()[-3000:])

    @task(trigger_rule=TriggerRule.ALL_DONE)  # explains a reconciliation failure even when the tests failed
    def realtime_reconciliation():
        from tickflow_ops import quality

        return {"windows_compared": quality.realtime_reconciliation()}

    source_freshness()
    rebuild = rebuild_marts_from_lake()
    rebuild >> marts_tests() >> realtime_reconciliation()


tickflow_data_quality()
