"""Reconciliation of the lake against the ground truth, with DuckDB, and a second reading of
the trades with pyarrow."""

import duckdb
import pyarrow.dataset as ds

WINDOWS_US = [1_000_000, 60_000_000]
KEY = "venue, venue_symbol, id, t, price, size"


def connect(lake, truth_path):
    db = duckdb.connect()
    db.execute(f"""
        create table truth as select * from read_json('{truth_path}', format = 'newline_delimited', columns = {{
            venue: 'VARCHAR', venue_symbol: 'VARCHAR', instrument_id: 'VARCHAR', trade_id: 'VARCHAR',
            price: 'DECIMAL(18,8)', size: 'DECIMAL(18,8)', side: 'VARCHAR', price_only: 'BOOLEAN',
            event_time_us: 'BIGINT', seq: 'BIGINT', is_late: 'BOOLEAN'}})""")
    db.execute("update truth set is_late = coalesce(is_late, false)")
    refresh(db, lake)
    return db


def refresh(db, lake):
    """(Re)defines the lake views over the files present now."""
    for table in ["trades", "candles", "dead_letters", "feed_gaps"]:
        source = f"read_parquet('{lake}/{table}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
        if not list((lake / table).glob("**/*.parquet")):
            source = "(select null::int as none where false)"
        db.execute(f"create or replace view lake_{table} as select * from {source}")


def counts(db):
    """Rows found so far: trades, dead letters, final candles, feed gaps."""
    def scalar(sql):
        try:
            return db.execute(sql).fetchone()[0]
        except duckdb.Error:
            return 0
    return (scalar("select count(*) from lake_trades"), scalar("select count(*) from lake_dead_letters"),
            scalar("select count(*) from lake_candles where is_final"), scalar("select count(*) from lake_feed_gaps"))


def expected_counts(db, truth):
    windows = " union all ".join(
        f"select count(distinct (instrument_id, event_time_us // {w})) from truth where not price_only and not is_late"
        for w in WINDOWS_US)
    finals = sum(row[0] for row in db.execute(windows).fetchall())
    return len(truth.trades), sum(truth.rejections.values()), finals, len(truth.gaps)


def trade_reconciliation(db):
    """lost, duplicated, unexpected trades by identity."""
    return db.execute(f"""
        with e as (select venue, venue_symbol, coalesce(trade_id, '') id, event_time_us t, price, size from truth),
        f as (select venue, venue_symbol, coalesce(trade_id, '') id, epoch_us(event_time_us) t, price, size, count(*) n
              from lake_trades group by all)
        select (select count(*) from e anti join f using ({KEY})),
               (select coalesce(sum(n - 1), 0) from f where n > 1),
               (select count(*) from f anti join e using ({KEY}))""").fetchone()


def late_reconciliation(db):
    """Late trades: expected (the truth's), found marked late in the lake, and trades marked
    differently in the lake than in the truth."""
    return db.execute(f"""
        with e as (select venue, venue_symbol, coalesce(trade_id, '') id, event_time_us t, price, size, is_late from truth),
        f as (select venue, venue_symbol, coalesce(trade_id, '') id, epoch_us(event_time_us) t, price, size,
                     coalesce(is_late, false) is_late from lake_trades)
        select (select count(*) from e where is_late), (select count(*) from f where is_late),
               (select count(*) from e join f using ({KEY}) where e.is_late <> f.is_late)""").fetchone()


def pyarrow_trade_keys(lake):
    # Readers take only final `*.parquet` files (a writer killed mid-write can leave a temporary file).
    files = [str(f) for f in (lake / "trades").glob("date=*/symbol=*/*.parquet")]
    table = ds.dataset(files, format="parquet", partitioning=ds.partitioning(flavor="hive"),
                       partition_base_dir=str(lake / "trades")).to_table(
        columns=["venue", "venue_symbol", "trade_id", "event_time_us", "price", "size", "symbol", "date"])
    rows = table.to_pylist()
    keys = [(r["venue"], r["venue_symbol"], r["trade_id"] or "", r["event_time_us"], r["price"], r["size"]) for r in rows]
    partitions_ok = all(str(r["date"]) == r["event_time_us"].strftime("%Y-%m-%d") for r in rows)
    return keys, partitions_ok


def gap_rows(db):
    """The lake's feed gaps, in the shape of the truth's rows, by key."""
    return db.execute("""
        select gap_key, venue, venue_symbol, instrument_id, reason, epoch_us(from_us), epoch_us(to_us),
               first_missing_trade_id, last_missing_trade_id, missing_trades, epoch_us(detected_at_us)
        from lake_feed_gaps order by gap_key""").fetchall()


def rejection_counts(db):
    return {(stage, reason): n for stage, reason, n in
            db.execute("select stage, reason, count(*) from lake_dead_letters group by all").fetchall()}


def candle_mismatches(db):
    """Final candles that differ from a recomputation over the ground truth, and windows with
    other than exactly one final candle."""
    expected = " union all ".join(f"""
        select instrument_id, {w} len, (event_time_us // {w}) * {w} ws,
               first(price order by event_time_us, seq) o, max(price) h, min(price) l,
               last(price order by event_time_us, seq) c, sum(size) volume, count(*) n,
               sum(price::DECIMAL(38,8) * size::DECIMAL(38,8)) qv,
               sum(case when side = 'buy' then size else 0 end) buy,
               sum(case when side = 'sell' then size else 0 end) sell,
               sum(price::DOUBLE * size::DOUBLE) / sum(size::DOUBLE) vwap
        from truth where not price_only and not is_late group by all""" for w in WINDOWS_US)
    db.execute(f"create or replace table expected_candles as {expected}")
    db.execute("""create or replace table final_candles as
        select instrument_id, window_length_us len, epoch_us(window_start_us) ws, "open" o, high h, low l, "close" c, volume,
               trade_count n, quote_volume qv, buy_volume buy, sell_volume sell, vwap
        from lake_candles where is_final""")
    not_one = db.execute("select count(*) from (select instrument_id, len, ws from final_candles group by all having count(*) <> 1)").fetchone()[0]
    differing = db.execute("""
        select count(*) from expected_candles e full join final_candles f using (instrument_id, len, ws)
        where f.n is null or e.n is null or e.o <> f.o or e.h <> f.h or e.l <> f.l
           or e.c <> f.c or e.volume <> f.volume or e.n <> f.n or e.qv <> f.qv
           or e.buy <> f.buy or e.sell <> f.sell or abs(e.vwap - f.vwap) > 1e-9 * abs(e.vwap)""").fetchone()[0]
    return not_one, differing


def revision_check(db):
    """Candle emissions per window: (windows revised within the allowed lateness, i.e. emitted
    more than once before their final record; windows whose revisions are not 0, 1, .. k
    each once with exactly one final record, at k)."""
    return db.execute("""
        with w as (select instrument_id, window_length_us, window_start_us, count(*) n,
                          count(distinct revision) distinct_revisions, min(revision) lo, max(revision) hi,
                          count(*) filter (where is_final) finals, max(revision) filter (where is_final) final_revision
                   from lake_candles group by all)
        select count(*) filter (where n - finals >= 2),
               count(*) filter (where n <> distinct_revisions or lo <> 0 or hi <> n - 1 or finals <> 1
                                      or final_revision <> hi)
        from w""").fetchone()
