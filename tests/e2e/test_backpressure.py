"""Bounded memory under backpressure, the stream-processor's side: its output topics become
unwritable while its input keeps arriving.

A second broker joins the cluster and holds the partitions of `enriched_trades` and
`realtime_metrics` (everything else, the internal topics included, stays on the first). While
the market streams in, that broker is killed with SIGKILL for 30 s: the processor's writes cannot
be acknowledged, so it stops taking input (its commit waits for every output), its memory stays
under a cap, `raw_trades` keeps growing, and when the broker is back everything resumes on its
own, with the lake exactly the ground truth. (The lake-writer's side, the object store down, is
T5 in test_s3_lake.py.)"""

import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from generate import generate
from layers import clean, publish
from pipeline import REPO, Pipeline, Service, free_port, metric_sum, wait_for_port
from s3 import wait_until
from test_pipeline import reconcile
from test_s3_lake import rss_mb

TRADES = 20_000
OUTAGE_S = 30
# The processor holds at most librdkafka's producer queue (its outputs not acknowledged) and its
# consumer's prefetch, not the outage's input: the same cap as the lake-writer's in T5.
RSS_CAP_MB = 320
STATE_TOPIC = "tickflow-stream-processor-state"


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    directory = tmp_path_factory.mktemp("backpressure-market")
    return directory, generate(directory, trades=TRADES, faults_each=100)


def placed(topic, broker, **config):
    """`topic` with 4 partitions, each with its one replica on `broker`."""
    return NewTopic(topic, num_partitions=4, replica_assignment=[[broker]] * 4, config=config)


def create(admin, topics):
    for topic, future in admin.create_topics(topics).items():
        future.result(60)


def place_topics(pipeline, second):
    """Every topic and the group offsets on broker 1, then the processor's outputs on broker 2."""
    admin = AdminClient({"bootstrap.servers": pipeline.bootstrap})
    create(admin, [placed("raw_trades", 1), placed("dead_letters", 1),
                   placed(STATE_TOPIC, 1, **{"cleanup.policy": "compact", "max.message.bytes": str(64 * 1024 * 1024)})])
    # A group's first commit makes the broker create __consumer_offsets, while it is the only one.
    consumer = Consumer({"bootstrap.servers": pipeline.bootstrap, "group.id": "placement", "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition("raw_trades", 0, 0)], asynchronous=False)
    consumer.close()
    second.start()
    wait_until(lambda: len(admin.list_topics(timeout=10).brokers) == 2, "the second broker joins")
    create(admin, [placed(topic, 2) for topic in ["enriched_trades", "realtime_metrics"]])


def test_unwritable_outputs_pause_the_processor_with_bounded_memory(market, tmp_path):
    market_dir, truth = market
    pipeline = Pipeline(tmp_path)
    second_port = free_port()
    second = Service("kafka-2", ["bash", str(REPO / "scripts/kafka.sh"), "join", str(tmp_path / "kafka-2"),
                                 str(second_port), str(tmp_path / "kafka")], pipeline.env, tmp_path)
    producer = pipeline.producer(market_dir / "frames.jsonl", rate=400)  # about 50 s of trading
    try:
        pipeline.broker.start()
        wait_for_port(pipeline.bootstrap)
        place_topics(pipeline, second)
        wait_for_port(f"127.0.0.1:{second_port}")
        for service in pipeline.consumers():
            service.start()
        producer.start()
        processor = pipeline.processor
        wait_until(lambda: metric_sum(pipeline.metrics(processor), "tickflow_records_out_total") > 0,
                   "the processor writes its outputs")
        produced_before = metric_sum(pipeline.metrics("producer"), "tickflow_records_out_total")
        second.kill()
        down_at, peak, taken = time.time(), 0.0, []
        while time.time() - down_at < OUTAGE_S:
            peak = max(peak, rss_mb(processor.process.pid))
            taken.append(metric_sum(pipeline.metrics(processor), "tickflow_records_in_total"))
            time.sleep(0.5)
        produced = metric_sum(pipeline.metrics("producer"), "tickflow_records_out_total") - produced_before
        second.start()
        restarted = time.time()
        out_before = metric_sum(pipeline.metrics(processor), "tickflow_records_out_total")
        wait_until(lambda: metric_sum(pipeline.metrics(processor), "tickflow_records_out_total") > out_before,
                   "the processor writes again", timeout=120, period=0.2)
        resumed_after = time.time() - restarted
        assert producer.process.wait(300) == 0, producer.tail()
        reports = reconcile(pipeline, market_dir, truth)
        assert processor.starts == 1 and processor.alive(), f"the processor rode the outage out\n{pipeline.logs()}"
    finally:
        producer.stop()
        pipeline.stop()
        second.stop()
    # In the outage's second half the processor took in (almost) nothing: consumption paused.
    half = len(taken) // 2
    paused_intake = taken[-1] - taken[half]
    publish(f"Backpressure: the processor's output broker SIGKILLed, down {OUTAGE_S} s", reports,
            trades=len(truth.trades), processor_peak_rss_mb=round(peak), rss_cap_mb=RSS_CAP_MB,
            records_taken_in_second_half_of_outage=int(paused_intake), resumed_after_s=round(resumed_after, 1),
            raw_trades_records_written_during_outage=int(produced))
    assert clean(reports), reports
    assert produced > 1_000, "input kept arriving while the outputs were unwritable"
    assert peak < RSS_CAP_MB, f"the processor's memory stayed under {RSS_CAP_MB} MB: {peak:.0f} MB"
    assert paused_intake < 0.05 * max(1, taken[-1]), f"consumption paused: {paused_intake} taken in late in the outage"
    assert resumed_after < 60, f"writing resumed {resumed_after:.1f} s after the broker came back"
