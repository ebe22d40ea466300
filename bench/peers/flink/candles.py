"""1-minute candles from `raw_trades` with Flink SQL through PyFlink, for the peers benchmark
(scripts/peers_bench.py; figures in BENCHMARKS.md).

The job the Flink SQL documentation describes for this: a Kafka table (bounded at the offsets
present at start, so the job drains the topic and ends) with a computed event-time column and a
watermark of the allowed lateness, a filter for valid trades, window deduplication (the
documented way to drop duplicates inside a window TVF: ROW_NUMBER over the trade identity per
window, keep the first), then a window aggregation over the same tumbling windows, results as
JSON to a Kafka topic.

Settings for a 2-core machine: parallelism 2, the local-global (two-phase) aggregation the
planner picks for window aggregates, mini-batch off (the documented batching is for unbounded
group aggregates; window aggregates buffer by window already), the TaskManager defaults of the
local mini-cluster. Open and close are FIRST_VALUE and LAST_VALUE: arrival order, Flink SQL has
no arg-min by event time.

Prints one JSON line: {"ready_at": monotonic seconds} once the environment is up, then
{"query_seconds": ...} when the job has finished.
"""

import argparse
import json
import sys
import time

from pyflink.table import EnvironmentSettings, TableEnvironment


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--connector-jar", required=True, help="flink-sql-connector-kafka's jar")
    parser.add_argument("--instruments", required=True, help="reference CSV (instrument_id first)")
    parser.add_argument("--out-topic", default="candles_flink")
    parser.add_argument("--lateness-seconds", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=2)
    args = parser.parse_args()

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("pipeline.jars", f"file://{args.connector_jar}")
    config.set("parallelism.default", str(args.parallelism))
    config.set("table.exec.source.idle-timeout", "1 s")
    config.set("table.local-time-zone", "UTC")
    with open(args.instruments) as f:
        instruments = [line.split(",")[0] for line in f.read().splitlines()[1:] if line]
    listed = ", ".join(f"'{i}'" for i in instruments)
    print(json.dumps({"ready_at": time.monotonic()}), flush=True)
    started = time.monotonic()

    env.execute_sql(f"""
        CREATE TABLE raw_trades (
            trade_key STRING,
            instrument_id STRING,
            price STRING,
            size STRING,
            price_only BOOLEAN,
            event_time_us BIGINT,
            `offset` BIGINT METADATA VIRTUAL,
            ts AS TO_TIMESTAMP_LTZ(event_time_us / 1000, 3),
            WATERMARK FOR ts AS ts - INTERVAL '{args.lateness_seconds}' SECOND
        ) WITH (
            'connector' = 'kafka',
            'topic' = 'raw_trades',
            'properties.bootstrap.servers' = '{args.bootstrap}',
            'properties.group.id' = 'tickflow-peers-flink',
            'scan.startup.mode' = 'earliest-offset',
            'scan.bounded.mode' = 'latest-offset',
            'format' = 'json',
            'json.ignore-parse-errors' = 'true'
        )""")
    env.execute_sql(f"""
        CREATE TABLE candles (
            instrument_id STRING,
            window_start_us BIGINT,
            `open` STRING, high STRING, low STRING, `close` STRING,
            volume STRING, quote_volume STRING, trade_count BIGINT
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{args.out_topic}',
            'properties.bootstrap.servers' = '{args.bootstrap}',
            'format' = 'json'
        )""")
    env.execute_sql(f"""
        CREATE TEMPORARY VIEW valid AS
        SELECT trade_key, instrument_id, ts,
               TRY_CAST(price AS DECIMAL(18, 8)) AS price, TRY_CAST(size AS DECIMAL(18, 8)) AS size
        FROM raw_trades
        WHERE trade_key IS NOT NULL AND instrument_id IN ({listed}) AND NOT price_only
          AND TRY_CAST(price AS DECIMAL(18, 8)) > 0 AND TRY_CAST(size AS DECIMAL(18, 8)) > 0""")
    env.execute_sql("""
        CREATE TEMPORARY VIEW first_seen AS
        SELECT * FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, trade_key ORDER BY ts ASC) AS rn
            FROM TABLE(TUMBLE(TABLE valid, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
        ) WHERE rn = 1""")
    result = env.execute_sql("""
        INSERT INTO candles
        SELECT instrument_id, UNIX_TIMESTAMP(CAST(window_start AS STRING)) * 1000000,
               CAST(FIRST_VALUE(price) AS STRING), CAST(MAX(price) AS STRING), CAST(MIN(price) AS STRING),
               CAST(LAST_VALUE(price) AS STRING), CAST(SUM(size) AS STRING), CAST(SUM(price * size) AS STRING),
               COUNT(*)
        FROM first_seen
        GROUP BY window_start, window_end, instrument_id""")
    result.wait()
    print(json.dumps({"query_seconds": time.monotonic() - started}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
