"""Reconciliation layer by layer, in Jepsen's words: for each place a trade passes through
(`raw_trades`, `enriched_trades`, the lake's `trades` table, the lake's final candles), how many
were expected, found, lost, duplicated and unexpected, against the test's ground truth.

Kafka topics are read back with confluent-kafka at `read_committed`, as a downstream consumer
sees them. `TICKFLOW_RELIABILITY_OUT` names a JSON-lines file each report is appended to
(scripts/reliability.sh renders RELIABILITY.md's table from it)."""

import json
import os
import uuid
from collections import Counter
from decimal import Decimal

from confluent_kafka import Consumer, TopicPartition


def read_topic(bootstrap, topic, timeout_s=120, **config):
    """Every committed record of `topic`: a list of (headers dict, value bytes). `config` adds
    librdkafka properties (e.g. SASL's)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"layers-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest", **config})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records, done = [], {p for p, end in ends.items() if end == 0}
        while len(done) < len(ends):
            message = consumer.poll(timeout_s)
            if message is None:
                raise TimeoutError(f"{topic}: no record for {timeout_s} s, positions short of {ends}")
            if message.error():
                continue
            records.append((dict(message.headers() or []), message.value()))
            # Transaction markers take offsets too: a partition is read when its position reaches the end.
            position = consumer.position([TopicPartition(topic, message.partition())])[0].offset
            if position >= ends[message.partition()]:
                done.add(message.partition())
        return records
    finally:
        consumer.close()


def trade_identity(record):
    """A trade's identity as the ground truth writes it: venue, symbol, trade id, time, price, size."""
    return (record["venue"], record["venue_symbol"], record.get("trade_id") or "", int(record["event_time_us"]),
            Decimal(str(record["price"])).normalize(), Decimal(str(record["size"])).normalize())


def truth_identities(truth):
    return Counter(trade_identity(t) for t in truth.trades)


def compare(layer, expected, found):
    """`expected` and `found` are Counters of identities: a report row."""
    return {"layer": layer, "expected": sum(expected.values()), "found": sum(found.values()),
            "lost": sum((expected - found).values()),
            "duplicated": sum(n - 1 for n in found.values() if n > 1),
            "unexpected": sum(n for key, n in found.items() if key not in expected)}


def topic_trades(bootstrap, topic):
    """Counter of trade identities in `topic` (records with a `tickflow-kind` header are
    watermarks or feed gaps, not trades)."""
    found = Counter()
    for headers, value in read_topic(bootstrap, topic):
        if "tickflow-kind" in headers:
            continue
        try:
            found[trade_identity(json.loads(value))] += 1
        except (ValueError, KeyError, TypeError):
            pass  # bytes written straight to the topic as bad input: the processor dead-letters them
    return found


def layer_reports(pipeline, db, truth):
    """The report for every layer; `db` is lake_check's connection with the lake views fresh."""
    expected = truth_identities(truth)
    injected_duplicates = truth.rejections.get(("stream-processor", "duplicate"), 0)
    raw = compare("raw_trades", expected, topic_trades(pipeline.bootstrap, "raw_trades"))
    # The market resends some frames on purpose: raw_trades must hold exactly those twice.
    raw["duplicated"] -= injected_duplicates
    enriched = compare("enriched_trades", expected, topic_trades(pipeline.bootstrap, "enriched_trades"))
    lake_rows = db.execute("select venue, venue_symbol, trade_id, epoch_us(event_time_us), price, size "
                           "from lake_trades").fetchall()
    lake = compare("lake trades", expected, Counter(
        (v, s, i or "", t, Decimal(p).normalize(), Decimal(q).normalize()) for v, s, i, t, p, q in lake_rows))
    candles = candle_report(db)
    return [raw, enriched, lake, candles]


def candle_report(db):
    """Final candles against lake_check's recomputation (`expected_candles`, `final_candles`
    made by candle_mismatches): windows expected, found, lost, duplicated (more than one final),
    unexpected, and final candles whose values differ."""
    row = db.execute("""
        with f as (select instrument_id, len, ws, count(*) n from final_candles group by all)
        select (select count(*) from expected_candles), (select count(*) from final_candles),
               (select count(*) from expected_candles e anti join f using (instrument_id, len, ws)),
               (select coalesce(sum(n - 1), 0) from f),
               (select count(*) from f anti join expected_candles e using (instrument_id, len, ws)),
               (select count(*) from expected_candles e join final_candles f using (instrument_id, len, ws)
                where e.o <> f.o or e.h <> f.h or e.l <> f.l or e.c <> f.c or e.volume <> f.volume or e.n <> f.n)
    """).fetchone()
    keys = ["expected", "found", "lost", "duplicated", "unexpected", "differing"]
    return {"layer": "final candles", **dict(zip(keys, (int(x) for x in row)))}


def publish(test, reports, **facts):
    """Prints the reports as a table and appends them to TICKFLOW_RELIABILITY_OUT if set."""
    print(f"\n{test} {facts}")
    for r in reports:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()))
    out = os.environ.get("TICKFLOW_RELIABILITY_OUT")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"test": test, "facts": facts, "layers": reports}) + "\n")


def clean(reports):
    """True when no layer lost, duplicated, added or changed anything."""
    return all(r["lost"] == r["duplicated"] == r["unexpected"] == r.get("differing", 0) == 0 for r in reports)
