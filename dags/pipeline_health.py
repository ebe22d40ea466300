"""Checks the running pipeline every 10 minutes: every service's /readyz, each consumer group's lag,
the lake's freshness, and the feed gaps and dead-letter rate of what the lake received in the
interval. Every check's row goes to the health table (<warehouse>/health/, shown on the
dashboard's health page), then the run fails, naming each failed check and why, if any did.
Thresholds and what each check reads: tickflow_ops.health."""

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, TriggerRule, dag, task

from tickflow_ops.dag_defaults import dag_arguments

EVERY = timedelta(minutes=10)
CHECK_TASKS = ("readiness", "consumer_lag", "lake_figures")


def _interval(data_interval_start, data_interval_end, dag_run):
    from tickflow_ops.intervals import interval

    return interval(data_interval_start, data_interval_end, getattr(dag_run, "run_after", None), EVERY)


# A crashed check task is retried once; an unhealthy verdict fails at once (AirflowFailException).
@dag(schedule=CronDataIntervalTimetable("*/10 * * * *", timezone="UTC"),
     **dag_arguments(__doc__, tag="health", retries=1, retry_delay=timedelta(seconds=30),
                     dagrun_timeout=timedelta(minutes=9)))
def tickflow_pipeline_health():
    @task
    def readiness():
        from dataclasses import asdict

        from tickflow_ops import health

        return [asdict(c) for c in health.readiness(health.services())]

    @task
    def consumer_lag():
        from dataclasses import asdict

        from tickflow_ops import health

        return [asdict(c) for c in health.consumer_lag()]

    @task
    def lake_figures(data_interval_start=None, data_interval_end=None, dag_run=None):
        from dataclasses import asdict
        from datetime import datetime, timezone

        from tickflow_ops import health, settings

        start, end = _interval(data_interval_start, data_interval_end, dag_run)
        return [asdict(c) for c in health.lake_checks(settings.lake(), start, end, datetime.now(timezone.utc))]

    @task(trigger_rule=TriggerRule.ALL_DONE)  # records whatever the checks found, even if one of them crashed
    def record_and_judge(data_interval_start=None, data_interval_end=None, dag_run=None, ti=None):
        from datetime import datetime, timezone

        from airflow.sdk.exceptions import AirflowFailException

        from tickflow_ops import health

        start, end = _interval(data_interval_start, data_interval_end, dag_run)
        checks = []
        for task_id in CHECK_TASKS:
            rows = ti.xcom_pull(task_ids=task_id)
            if rows is None:
                checks.append(health.Check("check_ran", task_id, None, None, False, "the check task failed: see its log"))
            checks += [health.Check(**row) for row in rows or []]
        path = health.record(checks, start, end, datetime.now(timezone.utc))
        try:
            health.verdict(checks)
        except health.Unhealthy as unhealthy:
            raise AirflowFailException(str(unhealthy)) from None
        return {"checks": len(checks), "table": str(path)}

    [readiness(), consumer_lag(), lake_figures()] >> record_and_judge()


tickflow_pipeline_health()
