"""The peers benchmark (P2 in BENCHMARKS.md): the same 1-minute candles from the same `raw_trades`
in the same local Apache Kafka broker, computed by tickflow's stream-processor, by Spark
Structured Streaming (PySpark), by Flink SQL (PyFlink) and by DuckDB SQL as a batch.

The input (`pipeline-bench peers-input`): the seeded synthetic market, 2 M trades over 59
instruments by default, with duplicates, stragglers inside the allowed lateness (2 s), late
trades beyond it and invalid records mixed in. Each engine validates, drops duplicates by the
trade identity, assigns trades to 1-minute event-time tumbling windows under a watermark of the
allowed lateness, and computes OHLC, volume, quote volume (price x size, from which VWAP
follows) and the trade count per instrument (bench/peers/). Each engine runs alone next to the
broker; its process tree's CPU (utime + stime) and peak RSS (summed over the tree, sampled every
0.2 s) are read from /proc. The JVM engines' start-up (JVM, session, job graph) is reported
apart from the drain: each job prints when its session is up.

Every engine's candles are checked against tickflow's final candles: windows both have must
agree exactly on trade count, volume, quote volume, high and low, and on open and close where
the engine orders by event time as tickflow does. Where semantics differ the difference is
located: Spark's and Flink's watermarks are global (tickflow's is per instrument), Spark moves
its watermark only between micro-batches, and Flink's FIRST_VALUE/LAST_VALUE are arrival order.
A window that differs is expected only where a trade arrived more than the allowed lateness
behind its instrument (the "late-touched" windows, computed from the input); any other
difference is a failure.

Usage: scripts/bench-peers.sh [--trades N] [--engines tickflow,duckdb,spark,flink]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/e2e"))
from layers import read_topic  # noqa: E402
from pipeline_bench import Bench, drain  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
LATENESS_US = 2_000_000
MINUTE_US = 60_000_000
FIELDS = ("trade_count", "volume", "quote_volume", "high", "low", "open", "close")


class TreeUsage(threading.Thread):
    """Samples the CPU seconds (utime + stime, plus reaped children's) and the RSS of a process
    and all its descendants every 0.2 s; keeps the latest CPU total and the peak RSS."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.cpu, self.peak_rss_mb, self.running = pid, 0.0, 0.0, True

    def tree(self):
        children = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append((int(stat.parent.name), fields))
        pending, found = [self.pid], []
        own = Path(f"/proc/{self.pid}/stat")
        if own.exists():
            found.append(own.read_text().rsplit(")", 1)[1].split())
        while pending:
            for pid, fields in children.get(pending.pop(), []):
                pending.append(pid)
                found.append(fields)
        return found

    def sample(self):
        try:
            processes = self.tree()
        except OSError:
            return
        if not processes:
            return
        cpu = sum(int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]) for f in processes) / TICKS
        rss = sum(int(f[21]) for f in processes) * PAGE_MB
        self.cpu, self.peak_rss_mb = max(self.cpu, cpu), max(self.peak_rss_mb, rss)

    def run(self):
        while self.running:
            self.sample()
            time.sleep(0.2)

    def stop(self):
        self.running = False
        self.join()


def run_job(name, command, log_dir):
    """Runs an engine's job; returns its wall seconds, CPU seconds and peak RSS over the process
    tree, split at the moment the job printed `ready_at` (start-up before, the drain after)."""
    log = open(log_dir / f"{name}.log", "w")
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=log_dir)
    usage = TreeUsage(child.pid)
    usage.start()
    ready = ready_cpu = None
    report = {}
    for line in child.stdout:
        if line.startswith("{"):
            report.update(json.loads(line))
            if "ready_at" in report and ready is None:
                usage.sample()
                ready, ready_cpu = time.monotonic(), usage.cpu
    child.wait()
    usage.sample()
    usage.stop()
    ended = time.monotonic()
    if child.returncode != 0:
        tail = "\n".join((log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{name} failed (rc {child.returncode}); the end of its log:\n{tail}")
    ready, ready_cpu = ready or started, ready_cpu or 0.0
    return {"startup_seconds": ready - started, "startup_cpu": ready_cpu, "seconds": ended - ready,
            "cpu": usage.cpu - ready_cpu, "rss_mb": usage.peak_rss_mb, **report}


def create_topics(bootstrap, names):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 4, 1) for name in names]).values():
        future.result()


def dump_raw_trades(bootstrap, path):
    """raw_trades as Parquet (partition, offset, value): the batch engine's input."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "peers-dump", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics("raw_trades", timeout=30).topics["raw_trades"].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition("raw_trades", p), timeout=30)[1] for p in partitions}
    consumer.assign([TopicPartition("raw_trades", p, 0) for p in partitions])
    columns = {"partition": [], "offset": [], "value": []}
    done = {p for p, end in ends.items() if end == 0}
    while len(done) < len(ends):
        for message in consumer.consume(10_000, timeout=30):
            if message.error():
                continue
            columns["partition"].append(message.partition())
            columns["offset"].append(message.offset())
            columns["value"].append(message.value().decode("utf-8", "replace"))
            if message.offset() + 1 >= ends[message.partition()]:
                done.add(message.partition())
    consumer.close()
    pq.write_table(pa.table(columns), path)


def tickflow_candles(bootstrap):
    candles = {}
    for _, value in read_topic(bootstrap, "realtime_metrics"):
        record = json.loads(value)
        if record.get("metric") == "candle" and record["window_length_us"] == MINUTE_US and record["is_final"]:
            candles[(record["instrument_id"], record["window_start_us"])] = candle_of(record)
    return candles


def topic_candles(bootstrap, topic):
    candles = {}
    for _, value in read_topic(bootstrap, topic):
        record = json.loads(value)
        key = (record["instrument_id"], int(record["window_start_us"]))
        if key in candles:
            raise AssertionError(f"{topic}: window {key} emitted twice")
        candles[key] = candle_of(record)
    return candles


def candle_of(record):
    return {field: int(record[field]) if field == "trade_count" else Decimal(str(record[field])).normalize()
            for field in FIELDS}


def compare(name, engine, reference, late_windows, last_event_us, open_close_by_arrival=False):
    """`engine` against tickflow's candles: which windows agree, which differ and whether each
    difference lies where the semantics are allowed to differ."""
    exact = FIELDS[:5] if open_close_by_arrival else FIELDS
    common = reference.keys() & engine.keys()
    differing = {k for k in common if any(engine[k][f] != reference[k][f] for f in exact)}
    open_close_only = {k for k in common - differing if any(engine[k][f] != reference[k][f] for f in FIELDS[5:])}
    missing = reference.keys() - engine.keys()
    # A window the engine never closed: its end lies after the engine's last watermark.
    unclosed = {k for k in missing if k[1] + MINUTE_US > last_event_us - LATENESS_US - MINUTE_US}
    unexplained = (differing - late_windows) | (missing - unclosed) | (engine.keys() - reference.keys())
    return {"engine": name, "windows": len(engine), "reference_windows": len(reference), "equal": len(common - differing),
            "differing": len(differing), "differing_late_touched": len(differing & late_windows),
            "open_close_only": len(open_close_only), "missing": len(missing), "missing_unclosed": len(unclosed),
            "extra": len(engine.keys() - reference.keys()), "unexplained": sorted(unexplained)[:10],
            "unexplained_count": len(unexplained),
            "differing_fields": sorted({f for k in differing for f in exact if engine[k][f] != reference[k][f]})}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=2_000_000)
    parser.add_argument("--engines", default="tickflow,duckdb,spark,flink")
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--kafka-script", required=True)
    parser.add_argument("--tests-python", required=True, help="python with duckdb, pyarrow, confluent-kafka")
    parser.add_argument("--spark-python")
    parser.add_argument("--spark-jars")
    parser.add_argument("--flink-python")
    parser.add_argument("--flink-jar")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    engines = args.engines.split(",")
    workdir = Path(args.workdir)
    bench = Bench(args.bin_dir, args.kafka_script, workdir)
    run, broker = bench.fresh_broker("peers")
    bootstrap = bench.env["KAFKA_BOOTSTRAP_SERVERS"]
    instruments = str(ROOT / "schemas/reference/instruments.csv")
    results, checks = {}, []
    try:
        print(f"writing {args.trades:,} trades with faults to raw_trades ...", flush=True)
        made = bench.tool("peers-input", "--trades", str(args.trades))
        print(json.dumps({k: made[k] for k in ["records", "trades", "duplicates", "stragglers", "late", "invalid"]}))
        create_topics(bootstrap, ["candles_spark", "candles_flink"])
        dump = run / "raw_trades.parquet"
        dump_raw_trades(bootstrap, dump)

        print("duckdb (batch) ...", flush=True)
        duck = run_job("duckdb", [args.tests_python, str(ROOT / "bench/peers/duckdb_candles.py"), "--input", str(dump),
                                  "--instruments", instruments, "--out", str(run / "duckdb.json")], run)
        duck_out = json.loads((run / "duckdb.json").read_text())
        late_windows = {(w[0], w[1]) for w in duck_out["late_windows"]}
        reference = None
        if "tickflow" in engines:
            print("tickflow stream-processor ...", flush=True)
            _, seconds, cpu, rss, _ = drain(bench.processor(run), "tickflow_records_in_total",
                                                  "tickflow_records_in_total")
            results["tickflow"] = {"seconds": seconds, "cpu": cpu, "rss_mb": rss, "startup_seconds": 0.0,
                                   "startup_cpu": 0.0}
            reference = tickflow_candles(bootstrap)
        if "duckdb" in engines:
            results["duckdb"] = duck
            candles = {(c["instrument_id"], c["window_start_us"]): candle_of(c) for c in duck_out["candles"]}
            if reference is not None:
                checks.append(compare("duckdb", candles, reference, late_windows, made["last_event_time_us"]))
        if "spark" in engines:
            print("spark structured streaming ...", flush=True)
            results["spark"] = run_job("spark", [args.spark_python, str(ROOT / "bench/peers/spark/candles.py"),
                                                 "--bootstrap", bootstrap, "--jars", args.spark_jars,
                                                 "--instruments", instruments,
                                                 "--checkpoint", str(run / "spark-checkpoint")], run)
            if reference is not None:
                checks.append(compare("spark", topic_candles(bootstrap, "candles_spark"), reference, late_windows,
                                      made["last_event_time_us"]))
        if "flink" in engines:
            print("flink sql ...", flush=True)
            results["flink"] = run_job("flink", [args.flink_python, str(ROOT / "bench/peers/flink/candles.py"),
                                                 "--bootstrap", bootstrap, "--connector-jar", args.flink_jar,
                                                 "--instruments", instruments], run)
            if reference is not None:
                checks.append(compare("flink", topic_candles(bootstrap, "candles_flink"), reference, late_windows,
                                      made["last_event_time_us"], open_close_by_arrival=True))
    finally:
        broker.stop()
    trades = made["trades"]
    for result in results.values():
        result["trades_per_second"] = trades / result["seconds"]
        result["cpu_per_million"] = result["cpu"] / (trades / 1e6)
    summary = {"input": made, "results": results, "checks": checks, "late_windows": len(late_windows)}
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(report(summary))
    print(f"raw results: {args.out}")
    failed = [c for c in checks if c["unexplained_count"]]
    if failed:
        print("candles differ where semantics do not explain it: " + json.dumps(failed, default=str), file=sys.stderr)
        return 1
    return 0


def report(summary):
    results, made = summary["results"], summary["input"]
    base = results.get("tickflow")
    lines = [f"Input: {made['trades']:,} trades over {made['instruments']} instruments, {made['records']:,} records "
             f"({made['duplicates']:,} duplicates, {made['stragglers']:,} stragglers, {made['late']:,} late, "
             f"{made['invalid']:,} invalid); {summary['late_windows']} late-touched windows.", "",
             "| engine | trades/s drained | CPU core-s per M trades | tickflow's advantage per core | peak RSS MB "
             "| start-up s (CPU s) |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        ratio = f"{r['cpu_per_million'] / base['cpu_per_million']:.1f}x" if base and name != "tickflow" else "-"
        lines.append(f"| {name} | {r['trades_per_second']:,.0f} | {r['cpu_per_million']:.2f} | {ratio} | "
                     f"{r['rss_mb']:.0f} | {r['startup_seconds']:.1f} ({r['startup_cpu']:.1f}) |")
    lines += ["", "| engine | windows | equal to tickflow | differing (all late-touched?) | open/close only "
              "| missing (never closed) | extra | unexplained |", "|---|---|---|---|---|---|---|---|"]
    for c in summary["checks"]:
        lines.append(f"| {c['engine']} | {c['windows']} | {c['equal']} | {c['differing']} "
                     f"({c['differing_late_touched']} late-touched; fields {', '.join(c['differing_fields']) or '-'}) "
                     f"| {c['open_close_only']} | {c['missing']} ({c['missing_unclosed']}) | {c['extra']} "
                     f"| {c['unexplained_count']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
