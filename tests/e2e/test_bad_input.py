"""T8, bad input at volume, through the real pipeline: a 20 000-trade market with 1 000 frames of
each class of tests/e2e/bad_frames.py mixed in (malformed and truncated JSON, wrong types, prices
0 / negative / NaN / 1e12 / nine decimals, sizes 0 and negative, unknown symbols, oversized
frames, clock-skewed trades, duplicates), and 1 000 each of what no venue frame can carry written
straight to `raw_trades` (bytes that are not UTF-8, records of an unknown kind). No service
crashes, the dead letters per stage and reason are exactly those injected, and the valid output
is exact (every trade once, gaps as reported, candles equal their recomputation)."""

import pytest
from confluent_kafka import Producer

from generate import generate
from pipeline import Pipeline, metric_sum
from layers import clean, publish
from test_pipeline import reconcile

PER_CLASS = 1_000


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bad-input-market")
    return directory, generate(directory, trades=20_000, faults_each=20, bad_input_each=PER_CLASS)


def write_raw(bootstrap, records):
    """(value, headers) records straight to raw_trades, acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for value, headers in records:
        producer.produce("raw_trades", value=value, headers=headers)
        producer.poll(0)
    assert producer.flush(60) == 0, "every record acknowledged"


def test_bad_input_at_volume_is_dead_lettered_exactly_and_stops_nothing(market, tmp_path):
    market_dir, truth = market
    pipeline = Pipeline(tmp_path)
    try:
        pipeline.start()
        producer = pipeline.producer(market_dir / "frames.jsonl", rate=0)
        producer.start()
        not_utf8 = [(b"\xff\xfe\xfd not UTF-8 " + str(n).encode(), None) for n in range(PER_CLASS)]
        unknown_kind = [(b'{"quote": 1}', [("tickflow-kind", b"quote")]) for _ in range(PER_CLASS)]
        write_raw(pipeline.bootstrap, not_utf8 + unknown_kind)
        for injected in [("stream-processor", "parse_error"), ("stream-processor", "schema_error")]:
            truth.rejections[injected] = truth.rejections.get(injected, 0) + PER_CLASS
        assert producer.process.wait(300) == 0, producer.tail()
        reports = reconcile(pipeline, market_dir, truth)
        crashes = sum(not service.alive() for service in pipeline.consumers())
        publish("T8: 1 000 bad inputs of each of 17 classes", reports, trades=len(truth.trades), crashes=crashes,
                dead_letters=sum(truth.rejections.values()), dead_letter_counts="exact per (stage, reason)")
        assert clean(reports), reports
        for service in pipeline.consumers():
            assert service.alive(), f"{service.name} stopped\n{pipeline.logs()}"
        # What the stream-processor counted agrees with the lake.
        counted = metric_sum(pipeline.metrics(pipeline.processor), "tickflow_rejections_total", stage="stream-processor")
        assert counted == sum(n for (stage, _), n in truth.rejections.items() if stage == "stream-processor")
    finally:
        pipeline.stop()
