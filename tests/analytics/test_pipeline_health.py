"""The pipeline-health DAG against the real pipeline (Apache Kafka, stream-processor, lake-writer)
after it carried a known market: healthy with thresholds above what the market holds, each
figure equal to the ground truth (feed gaps, dead-letter rate, zero lag); failing loudly, and
naming why, with the default thresholds; and failing on a stopped service whose group falls
behind. Every run's rows land in the health table."""

import os
import time
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from generate import generate
from pipeline import Pipeline
from test_pipeline import reconcile

TRADES = 4_000


@pytest.fixture(scope="module")
def carried(tmp_path_factory):
    """The pipeline after carrying a market that starts a minute ago, every lake file's write time
    pinned to one moment: (pipeline, market folder, truth, that moment)."""
    workdir = tmp_path_factory.mktemp("health")
    market = workdir / "market"
    market.mkdir()
    truth = generate(market, trades=TRADES, faults_each=20, start_ms=int(time.time() * 1000) - 60_000)
    pipeline = Pipeline(workdir)
    try:
        pipeline.start()
        producer = pipeline.producer(market / "frames.jsonl", rate=0)
        producer.start()
        assert producer.process.wait(300) == 0, producer.tail()
        reconcile(pipeline, market, truth)
        pipeline.wait_until_drained()
        # Pinned so that the whole market was written inside one health interval, whenever the test runs.
        moment = datetime.now(timezone.utc) - timedelta(seconds=1)
        for path in pipeline.lake.rglob("*.parquet"):
            os.utime(path, (moment.timestamp(), moment.timestamp()))
        yield pipeline, market, truth, moment
    finally:
        pipeline.stop()


def health_run(airflow, pipeline, moment, warehouse, **thresholds):
    # The run of the 10 minutes holding `moment`: its logical date is the interval's end.
    logical = moment.replace(minute=moment.minute // 10 * 10, second=0, microsecond=0) + timedelta(minutes=10)
    services = ",".join(f"{s.name}=http://127.0.0.1:{s.port}" for s in pipeline.consumers())
    return airflow.test_dag("tickflow_pipeline_health", logical.isoformat(), LAKE_URL=str(pipeline.lake),
                            TICKFLOW_WAREHOUSE=str(warehouse), TICKFLOW_SERVICES=services,
                            KAFKA_BOOTSTRAP_SERVERS=pipeline.bootstrap, **thresholds)


def table(warehouse):
    with duckdb.connect() as db:
        rows = db.execute(f"select * from read_parquet('{warehouse}/health/*/*.parquet', hive_partitioning = true) "
                          "order by check_name, subject").fetchall()
        names = [c[0] for c in db.description]
    return {(r["check_name"], r["subject"]): r for r in (dict(zip(names, row)) for row in rows)}


def test_healthy_figures_equal_the_market_and_land_in_the_health_table(airflow, carried, tmp_path):
    pipeline, _, truth, moment = carried
    run = health_run(airflow, pipeline, moment, tmp_path, TICKFLOW_HEALTH_MAX_FEED_GAPS="1000",
                     TICKFLOW_HEALTH_MAX_DEAD_LETTER_RATE="0.5")
    assert run["state"] == "success", run["log"][-4000:]
    rows = table(tmp_path)
    assert all(row["healthy"] for row in rows.values()), rows
    assert {s for c, s in rows if c == "readiness"} == {"stream-processor", "lake-writer"}
    assert rows[("consumer_lag", "tickflow-stream-processor")]["value"] == 0
    assert rows[("consumer_lag", "tickflow-lake-writer")]["value"] == 0
    assert rows[("feed_gaps", "lake")]["value"] == len(truth.gaps)
    letters = sum(truth.rejections.values())
    assert rows[("dead_letter_rate", "lake")]["value"] == pytest.approx(letters / (letters + len(truth.trades)))
    assert rows[("dead_letter_rate", "lake")]["detail"] == f"{letters} dead letters, {len(truth.trades)} trades"
    assert 0 <= rows[("lake_freshness", "lake")]["value"] < 120


def test_the_default_thresholds_fail_the_run_naming_each_cause(airflow, carried, tmp_path):
    pipeline, _, truth, moment = carried
    run = health_run(airflow, pipeline, moment, tmp_path)
    assert run["state"] == "failed"
    assert run["tasks"] == {"readiness": "success", "consumer_lag": "success", "lake_figures": "success",
                            "record_and_judge": "failed"}, run["tasks"]
    assert "2 of 7 pipeline-health checks failed" in run["log"]
    assert f"feed_gaps lake: {len(truth.gaps)} (threshold 0)" in run["log"]
    assert "dead_letter_rate lake:" in run["log"] and "(threshold 0.0100)" in run["log"]
    rows = table(tmp_path)
    assert {key for key, row in rows.items() if not row["healthy"]} == {("feed_gaps", "lake"), ("dead_letter_rate", "lake")}


def test_a_stopped_service_and_its_groups_lag_fail_the_run(airflow, carried, tmp_path):
    pipeline, market, _, moment = carried
    pipeline.processor.kill()
    again = pipeline.producer(market / "frames.jsonl", rate=0)  # raw_trades grows, nobody reads it
    again.start()
    assert again.process.wait(300) == 0, again.tail()
    run = health_run(airflow, pipeline, moment, tmp_path, TICKFLOW_HEALTH_MAX_FEED_GAPS="1000",
                     TICKFLOW_HEALTH_MAX_DEAD_LETTER_RATE="0.5", TICKFLOW_HEALTH_MAX_LAG="100")
    assert run["state"] == "failed"
    rows = table(tmp_path)
    assert {key for key, row in rows.items() if not row["healthy"]} == {
        ("readiness", "stream-processor"), ("consumer_lag", "tickflow-stream-processor")}, rows
    lag = rows[("consumer_lag", "tickflow-stream-processor")]
    assert lag["value"] >= TRADES and lag["detail"].startswith("raw_trades ")
    assert "readiness stream-processor: 0 (threshold 200) no answer from" in run["log"]
    assert "consumer_lag tickflow-stream-processor:" in run["log"]
