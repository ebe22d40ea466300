"""Which data interval a DAG's task works on, without Airflow: the run's own, or for a run
triggered without a logical date (the UI's trigger button), the last complete interval of the
DAG's schedule."""

from datetime import datetime, timedelta, timezone

from tickflow_ops.intervals import DAILY, HOURLY, interval

UTC = timezone.utc


def test_a_scheduled_run_keeps_its_interval():
    start, end = datetime(2026, 11, 22, 10, tzinfo=UTC), datetime(2026, 11, 22, 11, tzinfo=UTC)
    assert interval(start, end, datetime(2026, 12, 1, tzinfo=UTC), HOURLY) == (start, end)


def test_a_run_triggered_without_a_logical_date_takes_the_last_complete_interval():
    at = datetime(2026, 12, 1, 19, 56, 32, tzinfo=UTC)
    assert interval(None, None, at, HOURLY) == (datetime(2026, 12, 1, 18, tzinfo=UTC), datetime(2026, 12, 1, 19, tzinfo=UTC))
    # Hourly at :30 (data quality): the last complete [:30, :30).
    assert interval(None, None, at, HOURLY, timedelta(minutes=30))[0] == datetime(2026, 12, 1, 18, 30, tzinfo=UTC)
    # Daily at 01:15 (compaction): the interval that ended at today's 01:15 starts yesterday, the closed day.
    assert interval(None, None, at, DAILY, timedelta(hours=1, minutes=15))[0].date().isoformat() == "2026-11-30"
    # Exactly at a boundary the interval that just ended is complete.
    assert interval(None, None, datetime(2026, 12, 1, 19, tzinfo=UTC), HOURLY)[1] == datetime(2026, 12, 1, 19, tzinfo=UTC)
