"""1-minute candles from a dump of `raw_trades` with DuckDB SQL, as a batch, for the peers
benchmark (scripts/peers_bench.py; figures in BENCHMARKS.md).

The input is the topic as Parquet (partition, offset, value). One query does the job with
tickflow's semantics spelled out in SQL: JSON values parsed with DuckDB's JSON functions, a
filter for valid trades, the first delivery of each trade identity kept (arrival = partition
offset order: an instrument's records share a partition), a trade dropped as late when it is
more than the allowed lateness behind the latest event time its instrument had before it, then
OHLC (open and close by event time, ties by arrival), volume, quote volume and trade count per
instrument and minute. DuckDB runs with its default of one thread per core (2 here).

A second query, not timed, lists the windows a late trade falls into (where engines with other
lateness semantics may differ). Prints {"ready_at": ...} before the timed query and
{"query_seconds": ...} after it; writes the candles and the late-touched windows as JSON.
"""

import argparse
import json
import sys
import time

import duckdb

TRADES = """
CREATE TEMP TABLE first_seen AS
WITH parsed AS (
    SELECT partition, "offset",
           value->>'trade_key' AS trade_key,
           value->>'instrument_id' AS instrument_id,
           TRY_CAST(value->>'price' AS DECIMAL(18, 8)) AS price,
           TRY_CAST(value->>'size' AS DECIMAL(18, 8)) AS size,
           TRY_CAST(value->>'price_only' AS BOOLEAN) AS price_only,
           TRY_CAST(value->>'event_time_us' AS BIGINT) AS t
    FROM read_parquet($input)
    WHERE json_valid(value)
), valid AS (
    SELECT * FROM parsed
    WHERE trade_key IS NOT NULL AND instrument_id IN (SELECT instrument_id FROM read_csv($instruments))
      AND price > 0 AND size > 0 AND NOT price_only AND t IS NOT NULL
)
SELECT *,
       t < max(t) OVER (PARTITION BY instrument_id ORDER BY partition, "offset"
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) - $lateness AS late
FROM valid
QUALIFY row_number() OVER (PARTITION BY trade_key ORDER BY partition, "offset") = 1
"""

CANDLES = """
SELECT instrument_id, t // 60000000 * 60000000 AS window_start_us,
       arg_min(price, (t, "offset"))::VARCHAR AS open, max(price)::VARCHAR AS high, min(price)::VARCHAR AS low,
       arg_max(price, (t, "offset"))::VARCHAR AS close, sum(size)::VARCHAR AS volume,
       sum(price::DECIMAL(38, 8) * size)::VARCHAR AS quote_volume, count(*) AS trade_count
FROM first_seen
WHERE late IS NOT TRUE
GROUP BY ALL
"""

LATE_WINDOWS = """
SELECT DISTINCT instrument_id, t // 60000000 * 60000000 FROM first_seen WHERE late
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="raw_trades as Parquet: partition, offset, value")
    parser.add_argument("--instruments", required=True, help="reference CSV with an instrument_id column")
    parser.add_argument("--lateness-us", type=int, default=2_000_000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    db = duckdb.connect()
    db.execute("SET threads = 2")
    print(json.dumps({"ready_at": time.monotonic()}), flush=True)
    started = time.monotonic()
    db.execute(TRADES, {"input": args.input, "instruments": args.instruments, "lateness": args.lateness_us})
    columns = ["instrument_id", "window_start_us", "open", "high", "low", "close", "volume", "quote_volume",
               "trade_count"]
    candles = [dict(zip(columns, row)) for row in db.execute(CANDLES).fetchall()]
    print(json.dumps({"query_seconds": time.monotonic() - started}), flush=True)
    late = db.execute(LATE_WINDOWS).fetchall()
    with open(args.out, "w") as f:
        json.dump({"candles": candles, "late_windows": late}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
