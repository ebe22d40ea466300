"""What every tickflow DAG shares, so that a DAG file says only what is its own: runs start from
an early date (so past intervals can be rerun), never catch up on their own, run one at a time
unless they say otherwise, and retry their tasks. No Airflow import here: the DAG files pass
the result to `@dag`."""

from datetime import datetime, timedelta, timezone

EARLY = datetime(2020, 1, 1, tzinfo=timezone.utc)


def dag_arguments(doc: str, *, tag: str, retries: int, retry_delay: timedelta, max_active_runs: int = 1,
                  start_date: datetime = EARLY, **extra) -> dict:
    """The `@dag` arguments of a tickflow DAG besides its schedule."""
    return dict(start_date=start_date, catchup=False, max_active_runs=max_active_runs,
                default_args={"retries": retries, "retry_delay": retry_delay}, tags=["tickflow", tag],
                doc_md=doc, **extra)
