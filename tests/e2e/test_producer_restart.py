"""T3: the producer killed with SIGKILL mid-feed, twice, while the venues keep trading, and
started again after a while. Nothing it knew survives the kill; the restarted producer reads
each symbol's last delivered trade back from raw_trades and its clients recover what was made
meanwhile (Binance over REST from the last id, Coinbase from the subscription's snapshot) or
report it as a feed gap (Finnhub, which numbers no trades). Reconciled against the simulator's
manifest: every trade is in the lake exactly once or inside a reported gap, and Binance, whose
REST API is up, needs no gap at all."""

import random
import time

import duckdb

from pipeline import Pipeline, wait_for_port
from test_feed_gaps import reconcile_with_manifest, scalar, wait_for_lines, wait_until_recovered, wait_until_settled
from layers import publish
from venues import Venues

TRADES = 12_000
RATE = 1_000


def manifest_lines(path):
    return sum(1 for _ in open(path)) if path.exists() else 0


def test_a_killed_producer_resumes_where_raw_trades_ends(tmp_path):
    rng = random.Random(3)
    venues = Venues(tmp_path)
    pipeline = Pipeline(tmp_path)
    simulator = venues.simulator(pipeline.env, TRADES, RATE)
    producer = venues.producer(dict(pipeline.env, FINNHUB_API_KEY="e2e-simulator-key"),
                               "--feed-watchdog-ms", "2000", "--feed-backoff-max-ms", "200")
    try:
        pipeline.start()
        simulator.start()
        wait_for_port(f"127.0.0.1:{venues.ports['finnhub_ws']}")
        producer.start()
        for share in [0.25, 0.55]:
            while manifest_lines(venues.manifest) < share * TRADES:
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 1.0))
            producer.kill()  # frames in flight to Kafka are lost with it
            down_since = manifest_lines(venues.manifest)
            time.sleep(rng.uniform(2.0, 4.0))  # the venues trade on without it
            assert manifest_lines(venues.manifest) - down_since > 500, "trades were made while the producer was down"
            producer.start()
        wait_for_lines(venues.manifest, TRADES, timeout=120)
        wait_until_recovered(venues.ports["producer"])
        producer.stop()
        assert producer.starts == 3 and producer.process.returncode == 0, producer.tail()
        db = duckdb.connect()
        wait_until_settled(pipeline, db)
        figures = reconcile_with_manifest(db, pipeline, venues.manifest, TRADES)
        per_venue = lambda sql: dict(db.execute(sql).fetchall())  # noqa: E731
        made = per_venue("select venue, count(*) from manifest group by 1")
        landed = per_venue("select venue, count(*) from lake_trades group by 1")
        publish("T3: producer SIGKILLed twice mid-feed, venues trading on", [figures], trades=TRADES,
                down_s="2-4 each time", **{f"{venue}_made_landed": f"{made[venue]}/{landed.get(venue, 0)}"
                                           for venue in sorted(made)})
        assert scalar(db, "select count(*) from lake_feed_gaps where venue = 'binance'") == 0, \
            f"Binance's REST API was up: every trade missed while the producer was down is backfilled\n{pipeline.logs()}"
        backfilled = scalar(db, """select count(*) from lake_trades where venue = 'binance'
                                   and epoch_us(receive_time_us) - epoch_us(event_time_us) > 1500000""")
        assert backfilled > 500, f"the restarted producer fetched the Binance trades made while it was down: {backfilled}"
        finnhub_gaps = scalar(db, "select count(*) from lake_feed_gaps where venue = 'finnhub' and reason = 'disconnected'")
        assert finnhub_gaps > 0, "Finnhub's time while the producer was down is reported"
    finally:
        producer.stop()
        simulator.stop()
        pipeline.stop()
