"""The pipeline benchmark (P3, P4, P5 in BENCHMARKS.md): release builds of the producer, the
stream-processor and the lake-writer on a local Apache Kafka broker (scripts/kafka.sh).

Drain runs (throughput, repeated, medians reported): the producer writes N synthetic trades to
raw_trades as fast as it can; then the baseline, a bare consume-and-produce copy of raw_trades
(`pipeline-bench copy`); then the stream-processor alone drains raw_trades; then the lake-writer
alone drains its three topics; then the lake-writer's floor, the same three topics only read
(`pipeline-bench read`, the row `lake-read`). Each stage has the machine to itself next to the broker, and
each is timed from its first record to its last, with CPU (utime + stime) and peak RSS read
from /proc.

Paced runs (latency, bounded lag): the whole pipeline at once, the producer offering a fixed
rate open loop (every trade stamped with its scheduled time), `pipeline-bench observe` reading
the outputs into HdrHistograms, and afterwards each trade file's age when it was written.

Soak (`--soak-minutes 30`): one paced run at the first of --rates for that long, its first and last
`--soak-window-minutes` (default 5) observed the same way and compared side by side.

Usage: scripts/bench-pipeline.sh [--trades N] [--repeats K] [--rates 10000,30000] [--seconds S]
                                 [--soak-minutes M [--soak-window-minutes W]]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/e2e"))
from pipeline import Service, free_port, wait_for_port  # noqa: E402
from service_metrics import metric_sum, samples, scrape  # noqa: E402

import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PARTITIONS = "4"


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def counter(port, name):
    """Sum of a Prometheus counter family on a service's /metrics, or None if unreachable."""
    text = scrape(port)
    return metric_sum(text, name) if text else None


COMMIT_STAGES = ("commit", "commit_outputs", "commit_state")


def histogram_buckets(port, stage):
    """The cumulative buckets {le: count} of a service's `tickflow_latency_seconds{name=stage}`."""
    buckets = {}
    for name, labels, value in samples(scrape(port)):
        if name == "tickflow_latency_seconds_bucket" and labels.get("name") == stage:
            le = labels["le"]
            buckets[float("inf") if le == "+Inf" else float(le)] = value
    return buckets


def bucket_quantile(before, after, q):
    """The upper bound (ms) of the bucket holding quantile `q` of what was observed between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    for bound, count in zip(bounds, counts):
        if count >= q * counts[-1]:
            return bound * 1000
    return None


class Bench:
    def __init__(self, bin_dir, kafka_script, workdir):
        self.bin_dir, self.kafka_script, self.workdir = Path(bin_dir), kafka_script, Path(workdir)

    def fresh_broker(self, name):
        """A new run directory and a new, empty broker."""
        run = self.workdir / name
        run.mkdir(parents=True)
        port = free_port()
        bootstrap = f"127.0.0.1:{port}"
        self.env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, KAFKA_TOPIC_PARTITIONS=PARTITIONS,
                        RUST_LOG="warn")
        broker = Service("kafka", ["bash", self.kafka_script, "broker", str(run / "kafka"), str(port), "1g"],
                         self.env, run)
        broker.start()
        wait_for_port(bootstrap)
        return run, broker

    def service(self, run, name, *flags):
        port = free_port()
        service = Service(name, [str(self.bin_dir / name), "--http-addr", f"127.0.0.1:{port}", *flags], self.env, run)
        service.port = port
        return service

    def processor(self, run):
        return self.service(run, "stream-processor")

    def lake_writer(self, run):
        return self.service(run, "lake-writer", "--lake-url", str(run / "lake"))

    def tool(self, *args):
        """Runs `pipeline-bench ARGS`; returns its JSON report with its CPU seconds and peak RSS."""
        with tempfile.TemporaryFile("w+") as out:
            child = subprocess.Popen([str(self.bin_dir / "pipeline-bench"), *args], env=self.env, stdout=out)
            cpu, rss_mb = wait_with_usage(child, f"pipeline-bench {' '.join(args)}")
            out.seek(0)
            report = json.load(out)
        report.update(cpu=cpu, rss_mb=rss_mb)
        return report


def wait_with_usage(child, name):
    """Waits for a child process (wait4, so its resource usage comes with it); returns its CPU
    seconds and peak RSS MB, or raises if it failed."""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{name} failed")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def drain(service, metric_in, metric_done, expected=None, quiet=3.0):
    """Starts `service` and waits until its `metric_done` counter reaches `expected` (or, without
    one, stops growing). Returns (records done, seconds from the first record consumed to the
    last record done, CPU seconds, peak RSS MB, records the service produced)."""
    service.start()
    pid = service.process.pid
    first = last = None
    done = 0.0
    while True:
        time.sleep(0.05)
        if not service.alive():
            raise RuntimeError(f"{service.name} exited:\n{service.tail()}")
        consumed, done_now = counter(service.port, metric_in), counter(service.port, metric_done)
        if consumed and first is None:
            first = time.monotonic()
        if done_now and done_now > done:
            done, last = done_now, time.monotonic()
        if expected is not None and done >= expected:
            break
        if expected is None and last is not None and time.monotonic() - last > quiet:
            break
    cpu, rss = cpu_seconds(pid), peak_rss_mb(pid)
    produced = counter(service.port, "tickflow_records_out_total")
    service.stop()
    return done, last - first, cpu, rss, produced


def drain_run(bench, index, trades):
    run, broker = bench.fresh_broker(f"drain-{index}")
    result = {}
    try:
        producer = bench.service(run, "producer", "--rate", "0", "--max-trades", str(trades))
        started = time.monotonic()
        producer.start()
        cpu, rss = wait_with_usage(producer.process, f"producer (log: {producer.log_path})")
        result["producer"] = {"records": trades, "seconds": time.monotonic() - started, "cpu": cpu, "rss_mb": rss}

        copy = bench.tool("copy", "--to", "bench_copy")
        result["copy"] = {key: copy[key] for key in ["records", "seconds", "cpu", "rss_mb"]}

        records, seconds, cpu, rss, outputs = drain(bench.processor(run), "tickflow_records_in_total",
                                                    "tickflow_records_in_total")
        result["stream-processor"] = {"records": records, "seconds": seconds, "cpu": cpu, "rss_mb": rss}

        # Every output of the stream-processor becomes one lake row.
        rows, seconds, cpu, rss, _ = drain(bench.lake_writer(run), "tickflow_records_in_total",
                                           "tickflow_rows_written_total", expected=outputs)
        result["lake-writer"] = {"records": rows, "seconds": seconds, "cpu": cpu, "rss_mb": rss}

        # The lake-writer's floor: its inputs read with its consumer settings, and nothing else.
        read = bench.tool("read")
        result["lake-read"] = {key: read[key] for key in ["records", "seconds", "cpu", "rss_mb"]}
    finally:
        broker.stop()
    return result


def paced_run(bench, rate, seconds, warmup=5.0):
    run, broker = bench.fresh_broker(f"paced-{rate}")
    services = [bench.processor(run), bench.lake_writer(run)]
    producer = bench.service(run, "producer", "--rate", str(rate))
    try:
        for service in services:
            service.start()
        observer = subprocess.Popen(
            [str(bench.bin_dir / "pipeline-bench"), "observe", "--warmup-seconds", str(warmup),
             "--seconds", str(seconds)], env=bench.env, stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the observer reads from the ends of the topics: let it assign first
        producer.start()
        everyone = [broker, producer, *services]
        time.sleep(warmup)
        before = {s.name: cpu_seconds(s.process.pid) for s in everyone}
        produced_start = counter(producer.port, "tickflow_records_out_total") or 0
        processed_start = counter(services[0].port, "tickflow_records_in_total") or 0
        time.sleep(seconds)
        cpu = {s.name: cpu_seconds(s.process.pid) - before[s.name] for s in everyone}
        rss = {s.name: peak_rss_mb(s.process.pid) for s in everyone}
        produced = (counter(producer.port, "tickflow_records_out_total") or 0) - produced_start
        processed = (counter(services[0].port, "tickflow_records_in_total") or 0) - processed_start
        observed = json.loads(observer.communicate(timeout=120)[0])
        producer.stop()
        time.sleep(6.0)  # the lake-writer's default flush interval is 5 s
        file_ages = trade_file_ages(run / "lake")
    finally:
        for service in [producer, *services, broker]:
            service.stop()
    return {"rate": rate, "seconds": seconds, "produced": produced, "processed": processed, "cpu": cpu,
            "rss_mb": rss, "observed": observed, "trade_file_age_s": file_ages}


def soak_window(bench, services, everyone, seconds):
    """One observed window of a running pipeline: throughput, latencies, CPU per process."""
    observer = subprocess.Popen(
        [str(bench.bin_dir / "pipeline-bench"), "observe", "--warmup-seconds", "1", "--seconds", str(seconds)],
        env=bench.env, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    before = {s.name: cpu_seconds(s.process.pid) for s in everyone}
    processed_start = counter(services[0].port, "tickflow_records_in_total") or 0
    inside_start = histogram_buckets(services[0].port, "receive_to_enriched")
    commit_start = {stage: histogram_buckets(services[0].port, stage) for stage in COMMIT_STAGES}
    time.sleep(seconds)
    cpu = {s.name: cpu_seconds(s.process.pid) - before[s.name] for s in everyone}
    processed = (counter(services[0].port, "tickflow_records_in_total") or 0) - processed_start
    inside_end = histogram_buckets(services[0].port, "receive_to_enriched")
    # The processor's own view: the producer's receive time to the enriched trade sent (bucket bounds).
    inside = {f"p{int(q * 100)}_ms_at_most": bucket_quantile(inside_start, inside_end, q) for q in (0.5, 0.99)}
    commit_end = {stage: histogram_buckets(services[0].port, stage) for stage in COMMIT_STAGES}
    # Each commit: the previous checkpoint's outputs acknowledged (commit_outputs; normally long
    # since), then its partitions' state encoded, sent and acknowledged (commit_state).
    commits = {f"{stage} p{int(q * 100)}_ms_at_most": bucket_quantile(commit_start[stage], commit_end[stage], q)
               for stage in COMMIT_STAGES for q in (0.5, 0.99)}
    state_bytes = counter(services[0].port, "tickflow_state_bytes") or 0.0
    observed = json.loads(observer.communicate(timeout=120)[0])
    return {"seconds": seconds, "processed": processed, "cpu": cpu, "observed": observed,
            "processor_receive_to_enriched": inside, "processor_commit": commits, "state_bytes": state_bytes}


def soak_run(bench, rate, minutes, window_minutes, warmup):
    """`rate` trades/s for `minutes`; the first `window_minutes` after `warmup` seconds and the
    last `window_minutes` observed (the broker's JVM is still compiling its hot paths at first)."""
    run, broker = bench.fresh_broker(f"soak-{rate}")
    services = [bench.processor(run), bench.lake_writer(run)]
    producer = bench.service(run, "producer", "--rate", str(rate))
    window = window_minutes * 60
    try:
        for service in services:
            service.start()
        producer.start()
        everyone = [broker, producer, *services]
        started = time.monotonic()
        time.sleep(warmup)
        first = soak_window(bench, services, everyone, window)
        print(f"soak: first {window_minutes:g} min: {json.dumps(first)}", flush=True)
        while time.monotonic() - started < minutes * 60 - window - 2:
            time.sleep(5)
            elapsed = time.monotonic() - started
            print(f"soak: {elapsed / 60:.1f} of {minutes:g} min, "
                  f"{(counter(services[0].port, 'tickflow_records_in_total') or 0):,.0f} trades processed", flush=True)
            if not all(s.alive() for s in everyone):
                raise RuntimeError("a process of the soak exited:\n" + "\n".join(s.tail() for s in everyone))
        last = soak_window(bench, services, everyone, window)
        print(f"soak: last {window_minutes:g} min: {json.dumps(last)}", flush=True)
    finally:
        for service in [producer, *services, broker]:
            service.stop()
    return {"rate": rate, "minutes": minutes, "first": first, "last": last}


def soak_report(soak):
    """First and last window side by side, and whether each figure stayed within 20 %."""
    def figures(w):
        o = w["observed"]
        return {"processed/s": w["processed"] / w["seconds"], "trade visible p50 ms": o["trade_visible"]["p50_ms"],
                "trade visible p99 ms": o["trade_visible"]["p99_ms"],
                "final candle p99 ms": o["candle_final_after_close"]["p99_ms"],
                "processor receive to enriched p99 ms (bucket bound)":
                    w.get("processor_receive_to_enriched", {}).get("p99_ms_at_most") or float("nan"),
                **{f"processor {stage} p99 ms (bucket bound)":
                   w.get("processor_commit", {}).get(f"{stage} p99_ms_at_most") or float("nan") for stage in COMMIT_STAGES},
                "state MB (all partitions)": w.get("state_bytes", float("nan")) / 1e6,
                **{f"{name} CPU cores": cpu / w["seconds"] for name, cpu in w["cpu"].items()}}
    first, last = figures(soak["first"]), figures(soak["last"])
    window = soak["first"]["seconds"] / 60
    lines = [f"## Soak: {soak['rate']:,} trades/s for {soak['minutes']:g} min", "",
             f"| figure | first {window:g} min | last {window:g} min | change | within 20 % |", "|---|---|---|---|---|"]
    for name in first:
        a, b = first[name], last.get(name, float("nan"))
        change = (b - a) / a if a else float("nan")
        lines.append(f"| {name} | {a:,.2f} | {b:,.2f} | {change:+.0%} | {'yes' if abs(change) <= 0.2 else 'NO'} |")
    return "\n".join(lines + [""])


def trade_file_ages(lake):
    """For each trades file: its modification time minus the exchange time of its oldest trade,
    the longest any of its trades waited to become queryable."""
    ages = []
    for path in (lake / "trades").glob("**/*.parquet"):
        column = pq.read_table(path, columns=["event_time_us"]).column(0).cast("int64")
        oldest = pc.min(column).as_py() / 1e6
        ages.append(path.stat().st_mtime - oldest)
    if not ages:
        return {"files": 0}
    return {"files": len(ages), "median": statistics.median(ages), "max": max(ages)}


def rate(stage):
    return stage["records"] / stage["seconds"] if stage["seconds"] else 0.0


def report(drains, paced, trades):
    lines = [f"## Drain runs: {trades:,} trades, median of {len(drains)}", "",
             "| stage | records | records/s | CPU core-s per M records | peak RSS MB |", "|---|---|---|---|---|"]
    for stage in ["producer", "copy", "stream-processor", "lake-writer", "lake-read"]:
        rows = [d[stage] for d in drains if stage in d]
        if not rows:
            continue
        per_m = [r["cpu"] / r["records"] * 1e6 for r in rows if "cpu" in r]
        lines.append(f"| {stage} | {statistics.median(r['records'] for r in rows):,.0f} "
                     f"| {statistics.median(rate(r) for r in rows):,.0f} "
                     f"| {statistics.median(per_m) if per_m else float('nan'):.2f} "
                     f"| {statistics.median(r.get('rss_mb', float('nan')) for r in rows):.0f} |")
    ratios = [rate(d["stream-processor"]) / rate(d["copy"]) for d in drains]
    lines += ["", f"stream-processor / bare copy, same run: {statistics.median(ratios):.0%} "
              f"(runs: {', '.join(f'{r:.0%}' for r in ratios)})", ""]
    for p in paced:
        o = p["observed"]
        lines += [f"## Paced run: {p['rate']:,} trades/s offered for {p['seconds']:.0f} s", "",
                  f"- produced {p['produced'] / p['seconds']:,.0f}/s, processed {p['processed'] / p['seconds']:,.0f}/s, "
                  f"enriched trades seen {o['enriched_per_second']:,.0f}/s",
                  "| latency (ms) | count | p50 | p90 | p99 | p99.9 | max |", "|---|---|---|---|---|---|---|"]
        for name in ["trade_visible", "candle_provisional_after_window_end", "candle_final_after_close"]:
            h = o[name]
            lines.append(f"| {name} | {h['count']:,} | {h['p50_ms']:.2f} | {h['p90_ms']:.2f} | {h['p99_ms']:.2f} "
                         f"| {h['p999_ms']:.2f} | {h['max_ms']:.2f} |")
        trades_m = p["processed"] / 1e6
        lines += ["", "| process | CPU core-s per M trades | peak RSS MB |", "|---|---|---|"]
        for name, cpu in p["cpu"].items():
            lines.append(f"| {name} | {cpu / trades_m if trades_m else float('nan'):.2f} | {p['rss_mb'][name]:.0f} |")
        ages = p["trade_file_age_s"]
        if ages.get("files"):
            lines += ["", f"- lake: {ages['files']} trade files; oldest trade's age when its file was written: "
                      f"median {ages['median']:.1f} s, max {ages['max']:.1f} s"]
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rates", default="10000,30000")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--kafka-script", required=True, help="scripts/kafka.sh")
    parser.add_argument("--soak-minutes", type=float, default=0,
                        help="instead of the drain and paced runs: one paced run at the first of --rates for this long")
    parser.add_argument("--soak-window-minutes", type=float, default=5, help="the soak's first and last windows")
    parser.add_argument("--soak-warmup-seconds", type=float, default=60, help="before the soak's first window")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tickflow-bench-") as workdir:
        bench = Bench(args.bin_dir, args.kafka_script, workdir)
        if args.soak_minutes:
            rate = int(args.rates.split(",")[0])
            soak = soak_run(bench, rate, args.soak_minutes, args.soak_window_minutes, args.soak_warmup_seconds)
            Path(args.out).write_text(json.dumps({"soak": soak}, indent=2))
            print("\n" + soak_report(soak))
            return
        drains = []
        for index in range(args.repeats):
            drains.append(drain_run(bench, index, args.trades))
            print(f"drain run {index + 1}/{args.repeats}: {json.dumps(drains[-1])}", flush=True)
        paced = []
        for offered in [int(r) for r in args.rates.split(",") if r]:
            paced.append(paced_run(bench, offered, args.seconds))
            print(f"paced run {offered}/s: {json.dumps(paced[-1])}", flush=True)
    text = report(drains, paced, args.trades)
    Path(args.out).write_text(json.dumps({"drains": drains, "paced": paced}, indent=2))
    print("\n" + text)


if __name__ == "__main__":
    main()
