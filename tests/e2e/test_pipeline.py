"""End to end: Apache Kafka and the three services as separate processes, a known market of 100 000
trades over 59 instruments mixed with duplicates, malformed frames, bad prices, unknown
symbols, clock-skewed and out-of-order trades, trades a second behind (their candles revised)
and a minute behind (kept, marked late), and reports of unrecoverable feed gaps; the lake read
back with DuckDB and pyarrow and every layer (raw_trades, enriched_trades, the lake) reconciled
against the ground truth. Then the same run with the lake-writer (T1) and the stream-processor
(T2) each killed with SIGKILL ten times while they work, with the broker killed with SIGKILL
twice, and with three stream-processors and two lake-writers sharing the work in their
consumer groups while one of each is killed for good and new ones join."""

import contextlib
import os
import random
import time

import pytest

from generate import generate
import fixture_lake
from lake_check import (candle_mismatches, connect, gap_rows, late_reconciliation, pyarrow_trade_keys, refresh,
                        rejection_counts, revision_check, trade_reconciliation)
from layers import clean, layer_reports, publish
from pipeline import Pipeline, metric_sum

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
    return layer_reports(pipeline, db, truth)


def test_every_trade_lands_once_and_candles_match(market, tmp_path):
    market_dir, truth = market
    pipeline = Pipeline(tmp_path)
    try:
        pipeline.start()
        producer = pipeline.producer(market_dir / "frames.jsonl", rate=0)
        producer.start()
        assert producer.process.wait(TIMEOUT_S) == 0, producer.tail()
        reports = reconcile(pipeline, market_dir, truth)
        # T9: trades up to the allowed lateness behind revise their window's candle; every
        # window's emissions are revisions 0..k, the last one final (once). Trades later than
        # that are kept, marked late, and change no final candle (reconcile checks both).
        revised, broken = revision_check(connect(pipeline.lake, market_dir / "truth.jsonl"))
        late = sum(1 for t in truth.trades if t.get("is_late"))
        publish("Clean run; T9: out-of-order, revising and late trades", reports, trades=len(truth.trades),
                windows_revised=revised, revision_sequences_broken=broken, late_trades_kept_marked=late)
        assert clean(reports), reports
        assert revised > 0 and broken == 0, (revised, broken)
    finally:
        pipeline.stop()


@contextlib.contextmanager
def streaming(market_dir, tmp_path, rate=8_000):
    """The pipeline, with the market streaming in at `rate` frames/s: (pipeline, producer)."""
    pipeline = Pipeline(tmp_path)
    try:
        pipeline.start()
        producer = pipeline.producer(market_dir / "frames.jsonl", rate=rate)
        producer.start()
        producer.started_at = time.monotonic()
        yield pipeline, producer
    finally:
        pipeline.stop()


KILL_SEED = int(os.environ.get("TICKFLOW_KILL_SEED", "11"))


@pytest.mark.parametrize("victim", ["lake-writer", "stream-processor"])
def test_ten_sigkills_at_random_moments_change_nothing(victim, market, tmp_path):
    """T1 (lake-writer) and T2 (stream-processor): the service killed with SIGKILL ten times at
    random moments while the 100 000-trade market streams in (1 000 frames/s: the ten kills,
    each after the restarted service took in records again, fall inside the feed), started
    again each time. Every
    layer holds every trade once and each window one final candle equal to the recomputation.
    The moments come from TICKFLOW_KILL_SEED (default 11): the same seed replays the same kills."""
    market_dir, truth = market
    rng = random.Random(f"{KILL_SEED}-{victim}")
    with streaming(market_dir, tmp_path, rate=1_000) as (pipeline, producer):
        service = pipeline.lake_writer if victim == "lake-writer" else pipeline.processor
        moments = []
        for _ in range(10):
            # Kill it while it works: once it is up and has taken in records, at a random moment.
            pipeline.wait_until_working(service)
            time.sleep(rng.uniform(0.2, 3.0))
            moments.append(round(time.monotonic() - producer.started_at, 1))
            service.kill()
            service.start()
        assert producer.process.wait(TIMEOUT_S) == 0, producer.tail()
        assert service.starts == 11
        reports = reconcile(pipeline, market_dir, truth)
        publish(f"T{1 if victim == 'lake-writer' else 2}: {victim} SIGKILLed 10 times", reports, seed=KILL_SEED,
                trades=len(truth.trades), kill_seconds_into_feed=moments)
        assert clean(reports), f"seed {KILL_SEED}: {reports}"


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
        reports = reconcile(pipeline, market_dir, truth)
        publish("T4: broker SIGKILLed twice", reports, trades=len(truth.trades), service_restarts=0)
        assert clean(reports), reports


def owned(pipeline, services, topic):
    """Partitions of `topic` the given instances say they own, each instance's count."""
    return [metric_sum(pipeline.metrics(s), "tickflow_assigned_partitions", topic=topic) for s in services]


def wait_until(condition, what, timeout=90):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def test_the_groups_move_partitions_and_their_state_through_kills_and_joins(market, tmp_path):
    """Three stream-processors and two lake-writers share the partitions (4 of raw_trades, 4 of
    each lake input) in their consumer groups. While the market streams in, one of each is
    killed with SIGKILL for good: its partitions move to the others, the processor's with their
    state from the changelog. Then a new instance of each joins and takes partitions over. The
    lake is exactly the ground truth."""
    market_dir, truth = market
    rng = random.Random(5)
    lake_inputs = ["enriched_trades", "realtime_metrics", "dead_letters"]
    pipeline = Pipeline(tmp_path, processors=3, lake_writers=2)
    try:
        pipeline.start()
        wait_until(lambda: owned(pipeline, pipeline.processors, "raw_trades") in ([2, 1, 1], [1, 2, 1], [1, 1, 2]),
                   "the three processors share raw_trades' 4 partitions")
        # The assignor balances members over all their partitions (12 here), not topic by topic.
        wait_until(lambda: [sum(x) for x in zip(*(owned(pipeline, pipeline.lake_writers, t) for t in lake_inputs))]
                   == [6, 6], "the two lake-writers share the inputs' 12 partitions")
        producer = pipeline.producer(market_dir / "frames.jsonl", rate=4_000)
        producer.start()

        processor, lake_writer = rng.choice(pipeline.processors), rng.choice(pipeline.lake_writers)
        pipeline.wait_until_working(processor)
        pipeline.wait_until_working(lake_writer)
        time.sleep(rng.uniform(0.5, 2.0))
        survivors = [p for p in pipeline.processors if p is not processor]
        restored_before = sum(metric_sum(pipeline.metrics(p), "tickflow_events_total", name="state_restored")
                              for p in survivors)
        moved = owned(pipeline, [processor], "raw_trades")[0]
        pipeline.retire(processor)
        pipeline.retire(lake_writer)
        wait_until(lambda: sum(owned(pipeline, pipeline.processors, "raw_trades")) == 4,
                   f"the killed processor's partitions move\n{pipeline.logs()}")
        wait_until(lambda: all(owned(pipeline, pipeline.lake_writers, t) == [4] for t in lake_inputs),
                   f"the killed lake-writer's partitions move\n{pipeline.logs()}")
        restored = sum(metric_sum(pipeline.metrics(p), "tickflow_events_total", name="state_restored")
                       for p in survivors) - restored_before
        assert moved >= 1 and restored == moved, "the killed processor's partitions resume elsewhere from their state"

        joining = [pipeline.add_processor(), pipeline.add_lake_writer()]
        for service in joining:
            service.start()
        wait_until(lambda: owned(pipeline, joining[:1], "raw_trades")[0] >= 1, "a new processor takes partitions over")
        wait_until(lambda: sum(owned(pipeline, joining[1:], t)[0] for t in lake_inputs) >= 1,
                   "a new lake-writer takes partitions over")
        assert producer.process.wait(TIMEOUT_S) == 0, producer.tail()
        reports = reconcile(pipeline, market_dir, truth)
        publish("Groups: 3 processors and 2 lake-writers, one of each SIGKILLed for good, one of each joining", reports,
                trades=len(truth.trades))
        assert clean(reports), reports
        assert sum(owned(pipeline, pipeline.processors, "raw_trades")) == 4
        assert all(sum(owned(pipeline, pipeline.lake_writers, t)) == 4 for t in lake_inputs)
    finally:
        pipeline.stop()
