"""Backfills historical klines into the lake's `klines` table, one UTC day per run, from each
source: Binance 1 min klines (no key), Alpha Vantage 1 min intraday bars of US equities
(ALPHAVANTAGE_API_KEY) and Finnhub 1 min candles (FINNHUB_API_KEY, a plan with candle access).
A source without its key is skipped, and says so. Re-running a day replaces its files with the
same rows.

The run at 00:30 on day D+1 backfills day D. For January 2026 from Alpha Vantage:
`airflow backfill create --dag-id tickflow_klines_backfill --from-date 2026-01-02 --to-date
2026-02-02 --dag-run-conf '{"sources": ["alphavantage"], "symbols": ["AAPL"]}'`.
Base URLs: TICKFLOW_BINANCE_REST_URL, TICKFLOW_ALPHAVANTAGE_URL, TICKFLOW_FINNHUB_REST_URL
(tickflow_ops.kline_sources). A free Alpha Vantage key allows 25 calls a day: one per instrument
and day (two on the first of a month), so list a few `symbols` for it."""

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from tickflow_ops.dag_defaults import dag_arguments

SOURCES = ["binance", "alphavantage", "finnhub"]


@dag(schedule=CronDataIntervalTimetable("30 0 * * *", timezone="UTC"),
     **dag_arguments(__doc__, tag="backfill", retries=3, retry_delay=timedelta(minutes=2), max_active_runs=4,
                     start_date=datetime(2017, 7, 1, tzinfo=timezone.utc),  # Binance spot opened in July 2017
                     params={"symbols": Param([], type="array", description="instrument ids or venue symbols; "
                                              "empty for every instrument each source serves"),
                             "sources": Param(SOURCES, type="array", items={"enum": SOURCES},
                                              description="which sources to backfill")}))
def tickflow_klines_backfill():
    for source in SOURCES:
        @task(task_id=f"backfill_{source}")
        def backfill(source=source, data_interval_start=None, data_interval_end=None, dag_run=None, params=None):
            from tickflow_ops.intervals import DAILY, interval
            from tickflow_ops.kline_tasks import backfill_task

            run_after = getattr(dag_run, "run_after", None)
            start, _ = interval(data_interval_start, data_interval_end, run_after, DAILY, timedelta(minutes=30))
            return backfill_task(source, start.date(), list(params["sources"]), list(params["symbols"]))

        backfill()


tickflow_klines_backfill()
