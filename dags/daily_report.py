"""Writes the daily report of the previous UTC day at 09:00 UTC: per instrument open, close,
return, realized volatility, VWAP, volume, trade count, anomalies, coverage and feed gaps, with
charts, as one self-contained HTML file at <warehouse>/reports/daily/<day>.html (listed on the
dashboard's Reports page); the same rows are the rpt_daily_instrument_report mart. Rerunning a
day replaces its report. Fails, saying why, when the published marts hold no trade of the day."""

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, dag, task

from tickflow_ops.dag_defaults import dag_arguments


@dag(schedule=CronDataIntervalTimetable("0 9 * * *", timezone="UTC"),
     **dag_arguments(__doc__, tag="report", retries=2, retry_delay=timedelta(minutes=5)))
def tickflow_daily_report():
    @task
    def write_daily_report(data_interval_start=None, data_interval_end=None, dag_run=None):
        from tickflow_ops import daily_report
        from tickflow_ops.intervals import DAILY, interval

        _, end = interval(data_interval_start, data_interval_end, getattr(dag_run, "run_after", None), DAILY,
                          timedelta(hours=9))
        report = daily_report.write((end - DAILY).date())
        return {"day": report.day.isoformat(), "path": str(report.path), "instruments": report.instruments,
                "trades": report.trades, "complete": report.complete}

    write_daily_report()


tickflow_daily_report()
