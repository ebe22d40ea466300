"""End to end: Apache Kafka and the three services as separate processes, a known market of 100 000
trades over 59 instruments mixed with duplicates, malformed frames, bad prices, unknown
symbols, clock-skewed, out-of-order and late trades (kept, marked late), and reports of unrecoverable feed gaps; the lake read back with DuckDB and pyarrow
and reconciled against the ground truth. Then the same run with the stream-processor and the
lake-writer each killed with SIGKILL three times while they work, and with the broker killed
with SIGKILL twice."""

import contextlib
import random
import threading
import time

import pytest

from generate import generate
import fixture_lake
from lake_check import (candle_mismatches, connect, gap_rows, late_reconciliation, pyarrow_trade_keys, refresh,
                        rejection_counts, trade_reconciliation)
from pipeline import Pipeline

from fixture_lake import TIMEOUT_S


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    directory = tmp_path_factory.mktemp("market")
    truth = generate(directory)
    return directory, truth


def wait_for_lake(pipeline, db, truth):
    error = fixture_lake.wait_for_lake(pipeline, db, truth)
    if error:
        pytest.fail(error)


def reconcile(pipeline, market_dir, truth):
    db = connect(pipeline.lake, market_dir / "truth.jsonl")
    wait_for_lake(pipeline, db, truth)
    refresh(db, pipeline.lake)
    lost, duplicated, unexpected = trade_reconciliation(db)
    assert (lost, duplicated, unexpected) == (0, 0, 0), f"lost/duplicated/unexpected trades\n{pipeline.logs()}"
    expected_late, found_late, marked_wrong = late_reconciliation(db)
    assert expected_late > 0, "the market has late trades: the test shows nothing otherwise"
    assert (found_late, marked_wrong) == (expected_late, 0), "late trades land in the lake, marked late"
    keys, partitions_ok = pyarrow_trade_keys(pipeline.lake)
    assert len(keys) == len(set(keys)) == len(truth.trades), "pyarrow reads every trade exactly once"
    assert partitions_ok, "each trade sits in the date= partition of its event time"
    assert rejection_counts(db) == truth.rejections
    assert gap_rows(db) == sorted(truth.gaps), "every reported gap lands once, as reported"
    not_one, differing = candle_mismatches(db)
    assert not_one == 0, "every window has exactly one final candle"
    assert differing == 0, "final candles equal the recomputation from the ground truth"


def test_every_trade_lands_once_and_candles_match(market, tmp_path):
    market_dir, truth = market
    pipeline = Pipeline(tmp_path)
    try:
        pipeline.start()
        producer = pipeline.producer(market_dir / "frames.jsonl", rate=0)
        producer.start()
        assert producer.process.wait(TIMEOUT_S) == 0, producer.tail()
        reconcile(pipeline, market_dir, truth)
    finally:
        pipeline.stop()


@contextlib.contextmanager
def streaming(market_dir, tmp_path):
    """The pipeline, with the market streaming in at 8 000 frames/s: (pipeline, producer)."""
    pipeline = Pipeline(tmp_path)
    try:
        pipeline.start()
        producer = pipeline.producer(market_dir / "frames.jsonl", rate=8_000)
        producer.start()
        yield pipeline, producer
    finally:
        pipeline.stop()


def test_sigkill_of_processor_and_lake_writer_changes_nothing(market, tmp_path):
    market_dir, truth = market
    rng = random.Random(11)
    with streaming(market_dir, tmp_path) as (pipeline, producer):
        victims = [pipeline.processor, pipeline.lake_writer] * 3
        rng.shuffle(victims)

        def killer():
            for service in victims:
                # Kill it while it works: once it is up and has taken in records, at a random moment.
                pipeline.wait_until_working(service)
                time.sleep(rng.uniform(0.1, 1.2))
                service.kill()
                service.start()

        thread = threading.Thread(target=killer)
        thread.start()
        thread.join()
        assert producer.process.wait(TIMEOUT_S) == 0, producer.tail()
        assert pipeline.processor.starts == 4 and pipeline.lake_writer.starts == 4
        reconcile(pipeline, market_dir, truth)


def test_sigkill_of_the_broker_twice_loses_nothing_acknowledged(market, tmp_path):
    """T4: Kafka itself killed with SIGKILL twice while the market streams in, and started again
    on the same port and log each time; the services ride it out on their own."""
    market_dir, truth = market
    rng = random.Random(4)
    with streaming(market_dir, tmp_path) as (pipeline, producer):
        for _ in range(2):
            pipeline.wait_until_working(pipeline.lake_writer)
            time.sleep(rng.uniform(1.0, 3.0))
            pipeline.broker.kill()
            time.sleep(rng.uniform(0.5, 2.0))  # the services find no broker for a while
            pipeline.broker.start()
        assert producer.process.wait(TIMEOUT_S) == 0, producer.tail()
        assert pipeline.broker.starts == 3
        assert pipeline.processor.starts == 1 and pipeline.lake_writer.starts == 1
        assert pipeline.processor.alive() and pipeline.lake_writer.alive(), pipeline.logs()
        reconcile(pipeline, market_dir, truth)
