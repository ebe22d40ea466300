"""The real venue clients against the exchange simulator, through the whole pipeline, with faults
that lose trades for good: connections dropped, Binance's REST API down (no backfill), Coinbase
snapshots too short to cover an outage. Reconciled against the simulator's manifest, the lake
holds every trade the venues made exactly once, except those inside a reported feed gap of their
instrument; nothing reported missing by id was delivered."""

import time

import duckdb

from lake_check import refresh
from pipeline import Pipeline, metric_sum, scrape, wait_for_port, wait_until_still
from layers import publish
from venues import Venues

TRADES = 6_000
VENUES_WITH_IDS = "('binance', 'coinbase')"


def wait_for_lines(path, count, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and sum(1 for _ in open(path)) >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the simulator did not make {count} trades")


def wait_until_recovered(port, timeout=60):
    """Until the producer's last reconnects are done: no feed held, and neither frames nor gap
    reports moved between two looks."""
    def progress():
        text = scrape(port)
        if not text or metric_sum(text, "tickflow_source_held") > 0:
            return None
        return (metric_sum(text, "tickflow_records_in_total"), metric_sum(text, "tickflow_events_total", name="feed_gap_sent"))
    wait_until_still(progress, "the producer's feeds recovered", timeout)


def wait_until_settled(pipeline, db, quiet_s=6, timeout=180):
    """Until the lake's trades, gaps and dead letters stop changing."""
    deadline, last, since = time.time() + timeout, None, time.time()
    while time.time() < deadline:
        refresh(db, pipeline.lake)
        now = db.execute("select (select count(*) from lake_trades), (select count(*) from lake_feed_gaps), "
                         "(select count(*) from lake_dead_letters)").fetchone()
        if now != last:
            last, since = now, time.time()
        elif now[0] > 0 and time.time() - since >= quiet_s:
            return now
        time.sleep(0.5)
    raise TimeoutError(f"the lake did not settle: {last}\n{pipeline.logs()}")


def scalar(db, sql):
    return db.execute(sql).fetchone()[0]


def reconcile_with_manifest(db, pipeline, manifest, trades):
    """Every trade the simulator made is in the lake exactly once, or inside a feed gap reported
    for its instrument (by id where the venue numbers its trades, else by time), and nothing else
    is. Returns the figures in layers.py's shape, with `reported_by_id`: how many trades the gaps
    report missing by id, and `in_reported_gaps`: trades not delivered and inside a reported gap."""
    db.execute(f"""create table manifest as select * from read_json('{manifest}', format = 'newline_delimited',
                   columns = {{venue: 'VARCHAR', symbol: 'VARCHAR', id: 'UBIGINT', price: 'VARCHAR', qty: 'VARCHAR',
                               time_us: 'BIGINT', side: 'VARCHAR', conditions: 'VARCHAR[]'}})""")
    assert scalar(db, "select count(*) from manifest") == trades

    # Venues with trade ids: by id, exactly.
    db.execute(f"""create table id_trades as
        select m.*,
               exists (select 1 from lake_trades t where t.venue = m.venue and t.venue_symbol = m.symbol
                       and t.trade_id = m.id::varchar) as delivered,
               exists (select 1 from lake_feed_gaps g where g.venue = m.venue and g.venue_symbol = m.symbol
                       and g.first_missing_trade_id is not null
                       and m.id between g.first_missing_trade_id::ubigint and g.last_missing_trade_id::ubigint)
                   as reported_by_id,
               exists (select 1 from lake_feed_gaps g where g.venue = m.venue and g.venue_symbol = m.symbol
                       and g.first_missing_trade_id is null
                       and m.time_us between epoch_us(g.from_us) and epoch_us(g.to_us)) as reported_by_time
        from manifest m where venue in {VENUES_WITH_IDS}""")
    lost = scalar(db, "select count(*) from id_trades where not delivered and not reported_by_id and not reported_by_time")
    both = scalar(db, "select count(*) from id_trades where delivered and reported_by_id")
    assert (lost, both) == (0, 0), f"lost {lost}, delivered although reported missing {both}\n{pipeline.logs()}"
    reported = scalar(db, "select coalesce(sum(missing_trades), 0) from lake_feed_gaps where missing_trades is not null")
    assert reported == scalar(db, "select count(*) from id_trades where reported_by_id"), "ids reported = ids missing"
    duplicated = scalar(db, f"""select count(*) from (select venue, venue_symbol, trade_id from lake_trades
                                where venue in {VENUES_WITH_IDS} group by all having count(*) > 1)""")
    unexpected = scalar(db, f"""select count(*) from lake_trades t where venue in {VENUES_WITH_IDS} and not exists
                                (select 1 from manifest m where m.venue = t.venue and m.symbol = t.venue_symbol
                                 and m.id::varchar = t.trade_id)""")
    assert (duplicated, unexpected) == (0, 0)

    # Finnhub has no ids: trades compare as a multiset of (symbol, time, price, size); a missing
    # one must lie in a reported gap's time range. Equal trades in different frames are
    # different trades (the identity is the frame and the position in it), so none is dropped.
    db.execute("""create table finnhub as
        select symbol, time_us // 1000 as t_ms, price::DECIMAL(18,8) as price, qty::DECIMAL(18,8) as size, time_us,
               row_number() over (partition by symbol, time_us // 1000, price::DECIMAL(18,8), qty::DECIMAL(18,8)) as n
        from manifest where venue = 'finnhub'""")
    db.execute("""create table finnhub_lake as
        select venue_symbol as symbol, epoch_ms(event_time_us) as t_ms, price, size,
               row_number() over (partition by venue_symbol, epoch_ms(event_time_us), price, size) as n
        from lake_trades where venue = 'finnhub'""")
    uncovered = scalar(db, """select count(*) from finnhub m
        where not exists (select 1 from finnhub_lake l where l.symbol = m.symbol and l.t_ms = m.t_ms
                          and l.price = m.price and l.size = m.size and l.n = m.n)
          and not exists (select 1 from lake_feed_gaps g where g.venue = 'finnhub' and g.venue_symbol = m.symbol
                          and m.time_us between epoch_us(g.from_us) and epoch_us(g.to_us))""")
    assert uncovered == 0, f"{uncovered} Finnhub trades neither delivered nor inside a reported gap"
    finnhub_unexpected = scalar(db, "select count(*) from finnhub_lake anti join finnhub using (symbol, t_ms, price, size, n)")
    assert finnhub_unexpected == 0
    finnhub_missing = scalar(db, "select count(*) from finnhub anti join finnhub_lake using (symbol, t_ms, price, size, n)")
    return {"layer": "lake vs the venues' manifest", "expected": trades, "found": scalar(db, "select count(*) from lake_trades"),
            "lost": lost + uncovered, "duplicated": duplicated, "unexpected": unexpected + finnhub_unexpected,
            "in_reported_gaps": scalar(db, "select count(*) from id_trades where not delivered") + finnhub_missing,
            "reported_by_id": reported}


def test_the_lake_holds_the_venues_trades_except_inside_reported_gaps(tmp_path):
    venues = Venues(tmp_path)
    ports, manifest = venues.ports, venues.manifest
    pipeline = Pipeline(tmp_path)
    simulator = venues.simulator(pipeline.env, TRADES, 2000, "--disconnect-every", "60", "--rest-unavailable",
                                 "--short-snapshot", "1")
    producer = venues.producer(dict(pipeline.env, FINNHUB_API_KEY="e2e-simulator-key"),
                               "--feed-watchdog-ms", "2000", "--feed-backoff-max-ms", "200", "--binance-backfill-budget-ms", "0")
    try:
        pipeline.start()
        simulator.start()
        wait_for_port(f"127.0.0.1:{ports['finnhub_ws']}")
        producer.start()
        wait_for_lines(manifest, TRADES, timeout=120)
        wait_until_recovered(ports["producer"])
        producer.stop()
        assert producer.process.returncode == 0, producer.tail()
        db = duckdb.connect()
        wait_until_settled(pipeline, db)
        figures = reconcile_with_manifest(db, pipeline, manifest, TRADES)
        publish("Venue faults: a drop every 60 frames, REST down, 1-trade snapshots", [figures], trades=TRADES)
        assert figures["reported_by_id"] > 0, "the faults lost nothing: the test shows nothing"

        gaps = db.execute("""select venue, count(*), count(distinct gap_key) from lake_feed_gaps group by venue
                             order by venue""").fetchall()
        assert [venue for venue, _, _ in gaps] == ["binance", "coinbase", "finnhub"], gaps
        assert all(rows == keys for _, rows, keys in gaps), "a gap landed twice"
    finally:
        producer.stop()
        simulator.stop()
        pipeline.stop()
