"""The lake on a real S3-protocol server (s3s-fs standing in for MinIO or S3): the lake-writer's
create-only PUTs reconciled exactly against the ground truth, the lake read through S3 by DuckDB's
httpfs, the marts built from it by the Airflow task's code with dbt's s3 target, the query-api
serving it, and the daily compaction rewriting it; then the faults of reliability.md: the server
stopped for 30 s mid-run (T5) and PUTs whose responses are lost on the way back (T6)."""

import contextlib
import sys
import time
from datetime import date, datetime, timezone

import duckdb
import pytest

from generate import generate
from lake_check import connect, trade_reconciliation
from pipeline import REPO, Pipeline, metric_sum
from s3 import LosingProxy, S3Server, dbt_venv, httpfs_extension, wait_until
from layers import clean, publish
from test_pipeline import reconcile

sys.path.insert(0, str(REPO / "dags"))
sys.path.insert(0, str(REPO / "tests/analytics"))
from query_api import QueryApi  # noqa: E402
from tickflow_ops import compaction, lake_paths, marts  # noqa: E402

TRADES = 20_000
# The lake-writer's resident memory while the store is down: what it holds is bounded by its
# batch limits (LAKE_MAX_BYTES, 64 MiB) and librdkafka's prefetch queue (64 MiB), not by the
# length of the outage, since it stops consuming while a batch cannot be written.
OUTAGE_RSS_CAP_MB = 320


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    directory = tmp_path_factory.mktemp("market")
    return directory, generate(directory, trades=TRADES, faults_each=100)


@contextlib.contextmanager
def streaming_to_s3(market_dir, workdir, rate, proxy=None, lake_writer_env=None):
    """s3s-fs, the pipeline with its lake there (the lake-writer going through `proxy(s3 port)`
    when given, with `lake_writer_env` added) and the market's producer started at `rate`: yields
    (s3, pipeline, producer, proxy)."""
    s3 = S3Server(workdir)
    proxy = proxy(s3.port) if proxy else None
    pipeline = Pipeline(workdir, lake_url=s3.url(), lake=s3.folder(),
                        lake_env=s3.client_env(proxy.url if proxy else None) | (lake_writer_env or {}))
    try:
        s3.start()
        if proxy:
            proxy.start()
        pipeline.start()
        producer = pipeline.producer(market_dir / "frames.jsonl", rate=rate)
        producer.start()
        yield s3, pipeline, producer, proxy
    finally:
        pipeline.stop()
        if proxy:
            proxy.stop()
        s3.stop()


def lake_writer_metric(pipeline, metric, **labels):
    return metric_sum(pipeline.metrics(pipeline.lake_writer), metric, **labels)


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def httpfs(s3):
    """DuckDB reading the lake through the S3 server (httpfs from the duckdb-extension-httpfs wheel)."""
    db = duckdb.connect()
    db.execute(f"LOAD '{httpfs_extension()}'")
    env = s3.client_env()
    db.execute(f"""CREATE SECRET lake (TYPE s3, KEY_ID '{env["AWS_ACCESS_KEY_ID"]}', SECRET '{env["AWS_SECRET_ACCESS_KEY"]}',
                   REGION 'us-east-1', ENDPOINT '127.0.0.1:{s3.port}', URL_STYLE 'path', USE_SSL false)""")
    return db


def test_the_lake_on_s3_is_exact_and_feeds_dbt_the_query_api_and_compaction(market, tmp_path, monkeypatch):
    market_dir, truth = market
    # Small batches: drained at full speed, the market would otherwise fit in one or two batches
    # per partition, and the compaction below (which leaves the newest batch alone) would find
    # nothing to merge.
    with streaming_to_s3(market_dir, tmp_path, rate=0, lake_writer_env={"LAKE_MAX_RECORDS": "1000"}) as (
            s3, pipeline, producer, _):
        assert producer.process.wait(300) == 0, producer.tail()
        reconcile(pipeline, market_dir, truth)
        assert lake_writer_metric(pipeline, "tickflow_events_total", name="file_already_written") == 0
        assert lake_writer_metric(pipeline, "tickflow_files_written_total") == len(s3.objects())
        # The readers, next to the idle pipeline (compaction leaves its newest batches alone).
        check_readers(s3, market_dir, truth, tmp_path, monkeypatch)


def check_readers(s3, market_dir, truth, tmp_path, monkeypatch):
    """DuckDB through S3, dbt's s3 target, the query-api and the daily compaction on the S3 lake."""
    lake_url = f"s3://{s3.bucket}/lake"
    via_s3 = httpfs(s3).execute(f"select count(*) from read_parquet('{lake_url}/trades/**/*.parquet', hive_partitioning = true)")
    assert via_s3.fetchone()[0] == len(truth.trades), "DuckDB reads every trade through S3"

    # The marts, built as the Airflow task builds them (tickflow_ops.marts, scripts/marts.sh) with dbt's s3 target.
    for name, value in {**s3.client_env(), "LAKE_URL": lake_url, "DBT_TARGET": "s3", "S3_ENDPOINT": f"127.0.0.1:{s3.port}",
                        "TICKFLOW_WAREHOUSE": str(tmp_path / "warehouse"),
                        "TICKFLOW_DBT_VENV": str(dbt_venv())}.items():
        monkeypatch.setenv(name, value)
    lake_paths.s3_filesystem.cache_clear()
    marts.build()
    with duckdb.connect(str(tmp_path / "warehouse/marts.duckdb"), read_only=True) as db:
        trades = db.execute("select count(*) from fct_trades").fetchone()[0]
        busiest = db.execute("select instrument_id from fct_trades group by 1 order by count(*) desc limit 1").fetchone()[0]
    assert trades == len(truth.trades), "the marts hold every trade of the S3 lake"

    api = QueryApi(lake_url, tmp_path / "warehouse/marts.duckdb", tmp_path, "--httpfs", str(httpfs_extension()),
                   env=s3.client_env())
    api.start()
    try:
        window = {"from": "2023-11-14T00:00:00Z", "to": "2023-11-15T00:00:00Z"}
        seconds = api.json("/v1/candles", instrument=busiest, interval="1s", limit=5000, **window)["candles"]
        expected = httpfs(s3).execute(f"""
            select count(distinct window_start_us) from read_parquet('{lake_url}/candles/**/*.parquet', hive_partitioning = true)
            where instrument_id = ? and window_length_us = 1000000""", [busiest]).fetchone()[0]
        assert 0 < len(seconds) == min(expected, 5000), "1 s candles: the stream's, read from the S3 lake"
        minutes = api.json("/v1/candles", instrument=busiest, interval="1m", limit=5000, **window)["candles"]
        assert minutes and "marts" in {c["source"] for c in minutes}, "1 min candles from the marts built on S3"
    finally:
        api.stop()

    # The daily compaction on S3: one file per folder (the lake-writer's newest batches kept), same rows.
    days = sorted(date.fromisoformat(p.name.split("=")[1]) for p in (s3.folder() / "trades").glob("date=*"))
    objects_before = len(s3.objects())
    reports = [compaction.compact_day(lake_url, day, now=datetime.now(timezone.utc)) for day in days]
    merged = sum(r.files_before - r.files_after for r in reports)
    assert sum(r.folders for r in reports) > 0 and merged > 0, reports
    assert len(s3.objects()) == objects_before - merged and not s3.objects(suffix=".tmp")
    db = connect(s3.folder(), market_dir / "truth.jsonl")
    assert trade_reconciliation(db) == (0, 0, 0), "compaction in S3 keeps every trade once"
    again = [compaction.compact_day(lake_url, day, now=datetime.now(timezone.utc)) for day in days]
    assert sum(r.folders for r in again) == 0, "a second compaction changes nothing"


def test_an_s3_outage_of_30_s_loses_nothing_and_holds_memory(market, tmp_path):
    """T5: the S3 server is killed while trades stream in, kept down for 30 s, then started again
    on the same data; the lake-writer waits with bounded memory and resumes on its own."""
    market_dir, truth = market
    with streaming_to_s3(market_dir, tmp_path, rate=400) as (s3, pipeline, producer, _):  # about 50 s of trading
        wait_until(lambda: lake_writer_metric(pipeline, "tickflow_rows_written_total") > 0, "the first rows land")
        s3.kill()
        down_at, peak = time.time(), 0.0
        while time.time() - down_at < 30:
            peak = max(peak, rss_mb(pipeline.lake_writer.process.pid))
            time.sleep(0.5)
        text = pipeline.metrics(pipeline.lake_writer)
        retries = metric_sum(text, "tickflow_retries_total", name="commit_batch")
        oldest = max(metric_sum(text, "tickflow_lake_oldest_unwritten_timestamp_seconds", topic=topic)
                     for topic in ("enriched_trades", "realtime_metrics"))
        assert retries > 0, "the outage shows in the lake-writer's retries"
        assert 0 < oldest < down_at, "the oldest unwritten record dates from before the outage (lake freshness alert)"
        written_at_restart = lake_writer_metric(pipeline, "tickflow_rows_written_total")
        s3.start()
        restarted = time.time()
        wait_until(lambda: lake_writer_metric(pipeline, "tickflow_rows_written_total") > written_at_restart,
                   "writing resumes", timeout=60, period=0.2)
        resumed_after = time.time() - restarted
        assert producer.process.wait(300) == 0, producer.tail()
        reports = reconcile(pipeline, market_dir, truth)
        assert pipeline.lake_writer.starts == 1, "the lake-writer rode the outage out"
    publish("T5: S3 server SIGKILLed, down 30 s", reports, trades=len(truth.trades), lake_writer_peak_rss_mb=round(peak),
            rss_cap_mb=OUTAGE_RSS_CAP_MB, resumed_after_s=round(resumed_after, 1), commit_retries=retries)
    assert clean(reports), reports
    assert resumed_after < 30, f"writing resumed {resumed_after:.1f} s after the store came back"
    assert peak < OUTAGE_RSS_CAP_MB, f"the lake-writer's memory stayed under {OUTAGE_RSS_CAP_MB} MB: {peak:.0f} MB"


def test_a_put_whose_response_is_lost_is_verified_not_duplicated(market, tmp_path):
    """T6: a proxy between the lake-writer and the S3 server passes PUTs of Parquet files on, and
    for some drops the connection instead of relaying the server's answer: the file exists, the
    writer does not know. Its retry finds the object, checks that it holds the same records, and
    counts the write as done."""
    market_dir, truth = market
    losing = lambda port: LosingProxy(port, lose_every=4, max_lost=8)  # noqa: E731
    with streaming_to_s3(market_dir, tmp_path, rate=0, proxy=losing) as (_, pipeline, producer, proxy):
        assert producer.process.wait(300) == 0, producer.tail()
        reports = reconcile(pipeline, market_dir, truth)
        already = lake_writer_metric(pipeline, "tickflow_events_total", name="file_already_written")
    publish("T6: 8 PUT responses lost after the object was stored", reports, trades=len(truth.trades),
            responses_lost=proxy.lost, verified_already_written=already)
    assert clean(reports), reports
    assert proxy.lost == 8, f"responses lost: {proxy.lost}"
    assert already >= proxy.lost, f"each lost response was found written and verified on retry ({already})"
    assert proxy.statuses.get(412, 0) >= proxy.lost, f"the retries met create-only's precondition: {proxy.statuses}"
    assert pipeline.lake_writer.starts == 1
