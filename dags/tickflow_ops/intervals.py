"""The data interval a task works on. A scheduled run, or a manual one given a logical date, has
one. A run triggered from the UI without a logical date has none (Airflow 3): it then works on the
last complete interval of its schedule before it was triggered, the interval the scheduler's
latest run would have covered, so the trigger button does what a user expects."""

from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def interval(data_interval_start, data_interval_end, run_after, period, offset=timedelta(0)):
    """(start, end) of the run's data interval, or of the last complete `period` (aligned to the
    epoch plus `offset`, as a cron schedule is) that ended at or before `run_after`."""
    if data_interval_start is not None and data_interval_end is not None:
        return data_interval_start, data_interval_end
    at = run_after or datetime.now(timezone.utc)
    end = EPOCH + offset + ((at - EPOCH - offset) // period) * period
    return end - period, end


HOURLY = timedelta(hours=1)
DAILY = timedelta(days=1)
