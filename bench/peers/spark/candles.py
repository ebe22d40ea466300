"""1-minute candles from `raw_trades` with Spark Structured Streaming, the seeds' engine, for the
peers benchmark (scripts/peers_bench.py; figures in BENCHMARKS.md).

The job the Structured Streaming guide describes for this: the Kafka source, `from_json` into
typed columns, a filter for valid trades, an event-time watermark with the allowed lateness,
`dropDuplicatesWithinWatermark` on the trade identity, a tumbling-window aggregation in append
mode, results as JSON to a Kafka topic. Drained with `Trigger.AvailableNow` (everything in the
topic at start, in micro-batches of at most --max-offsets-per-trigger records, then stop).

Settings for a 2-core machine (from the guide's and the tuning guide's advice): `local[2]`,
`spark.sql.shuffle.partitions` = 4 (the Kafka partitions; the default 200 tasks per micro-batch
cost more than the work on small batches), the Spark UI off, the driver's heap 2 GB, the default
state store (the state is small: identities for the lateness, one open window per instrument).

Prints one JSON line: {"ready_at": monotonic seconds} once the session is up, then
{"query_seconds": ...} when the query has drained the topic.
"""

import argparse
import glob
import json
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

TRADE = StructType([
    StructField("trade_key", StringType()),
    StructField("instrument_id", StringType()),
    StructField("price", StringType()),
    StructField("size", StringType()),
    StructField("price_only", BooleanType()),
    StructField("event_time_us", LongType()),
])
DECIMAL = "decimal(18,8)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--jars", required=True, help="folder of the Kafka source's jars")
    parser.add_argument("--instruments", required=True, help="reference CSV (instrument_id first)")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out-topic", default="candles_spark")
    parser.add_argument("--lateness-seconds", type=int, default=2)
    parser.add_argument("--max-offsets-per-trigger", type=int, default=200_000)
    args = parser.parse_args()

    jars = [j for j in glob.glob(os.path.join(args.jars, "*.jar"))
            if os.path.basename(j).startswith(("spark-sql-kafka", "spark-token-provider", "kafka-clients",
                                               "commons-pool2"))]
    spark = (SparkSession.builder.master("local[2]").appName("tickflow-peers-spark")
             .config("spark.jars", ",".join(jars))
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    with open(args.instruments) as f:
        instruments = [line.split(",")[0] for line in f.read().splitlines()[1:] if line]
    print(json.dumps({"ready_at": time.monotonic()}), flush=True)
    started = time.monotonic()

    raw = (spark.readStream.format("kafka")
           .option("kafka.bootstrap.servers", args.bootstrap)
           .option("subscribe", "raw_trades")
           .option("startingOffsets", "earliest")
           .option("maxOffsetsPerTrigger", args.max_offsets_per_trigger)
           .load())
    trades = (raw.select(F.from_json(F.col("value").cast("string"), TRADE).alias("t"), "partition", "offset")
              .select("t.*", "partition", "offset")
              .withColumn("price", F.expr(f"try_cast(price as {DECIMAL})"))
              .withColumn("size", F.expr(f"try_cast(size as {DECIMAL})"))
              .where(F.col("trade_key").isNotNull() & F.col("instrument_id").isin(instruments)
                     & (F.col("price") > 0) & (F.col("size") > 0) & ~F.col("price_only"))
              .withColumn("ts", F.timestamp_micros("event_time_us")))
    # Open and close by event time, ties by arrival (an instrument's records are in one partition).
    order = F.struct("event_time_us", "offset")
    candles = (trades.withWatermark("ts", f"{args.lateness_seconds} seconds")
               .dropDuplicatesWithinWatermark(["trade_key"])
               .groupBy(F.window("ts", "1 minute"), "instrument_id")
               .agg(F.min_by("price", order).alias("open"), F.max("price").alias("high"),
                    F.min("price").alias("low"), F.max_by("price", order).alias("close"),
                    F.sum("size").alias("volume"), F.sum(F.col("price") * F.col("size")).alias("quote_volume"),
                    F.count(F.lit(1)).alias("trade_count")))
    out = candles.select(
        F.col("instrument_id").alias("key"),
        F.to_json(F.struct("instrument_id", F.unix_micros(F.col("window.start")).alias("window_start_us"),
                           *[F.col(c).cast("string").alias(c) for c in ["open", "high", "low", "close", "volume",
                                                                         "quote_volume"]],
                           "trade_count")).alias("value"))
    query = (out.writeStream.format("kafka").outputMode("append")
             .option("kafka.bootstrap.servers", args.bootstrap).option("topic", args.out_topic)
             .option("checkpointLocation", args.checkpoint)
             .trigger(availableNow=True).start())
    query.awaitTermination()
    print(json.dumps({"query_seconds": time.monotonic() - started}), flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
