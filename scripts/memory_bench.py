"""The memory benchmark (P6 in BENCHMARKS.md): the stream-processor's resident memory with many
live instruments, and whether it grows with instruments or with trades.

For each instrument count (default 59, the bundled catalogue, and 10 000 synthetic ones), on a
fresh local Apache Kafka broker: `pipeline-bench peers-input` writes N trades of the synthetic
market over those instruments (with its duplicates, stragglers, late and invalid records) and
the catalogue for the services; the release stream-processor, started with that catalogue,
drains them. Its RSS is read from /proc as it goes: when it has taken in 1 M records, and at the
end (N records), with the peak (VmHWM) and its state size (`tickflow_state_bytes`).

Usage: scripts/bench-memory.sh [--trades 10000000] [--instruments 59,10000]
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_bench import Bench, counter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(bench, instruments, trades, checkpoints):
    run_dir, broker = bench.fresh_broker(f"memory-{instruments}")
    try:
        reference = run_dir / "reference"
        flags = ["--trades", str(trades), "--trades-per-second", "10000", "--reference-out", str(reference)]
        if instruments != 59:
            flags += ["--instruments", str(instruments)]
        print(f"{instruments} instruments: writing {trades:,} trades ...", flush=True)
        made = bench.tool("peers-input", *flags)
        shutil.copy(ROOT / "schemas/reference/calendars.csv", reference / "calendars.csv")
        bench.env["TICKFLOW_REFERENCE_DIR"] = str(reference)
        processor = bench.processor(run_dir)
        processor.start()
        pid, samples, pending = processor.process.pid, [], sorted(checkpoints)
        last, last_change = 0.0, time.monotonic()

        def sample(taken):
            state = counter(processor.port, "tickflow_state_bytes")
            samples.append({"records_in": int(taken), "rss_mb": rss_mb(pid), "state_mb": (state or 0) / 2**20})
            print(f"  {int(taken):>11,} records in: RSS {samples[-1]['rss_mb']:.0f} MB", flush=True)

        while True:
            time.sleep(0.05)
            if not processor.alive():
                raise RuntimeError(f"stream-processor exited:\n{processor.tail()}")
            taken = counter(processor.port, "tickflow_records_in_total") or 0.0
            while pending and taken >= pending[0]:
                sample(taken)
                pending.pop(0)
            if taken > last:
                last, last_change = taken, time.monotonic()
            elif time.monotonic() - last_change > 5 and taken >= made["trades"]:
                sample(taken)  # drained (the end's watermark records are not counted as records in)
                break
            elif time.monotonic() - last_change > 60:
                raise RuntimeError(f"stream-processor stalled at {int(taken):,} records of {made['records']:,}")
        peak = rss_mb(pid, "VmHWM")
        processor.stop()
        bench.env.pop("TICKFLOW_REFERENCE_DIR")
        return {"instruments": made["instruments"], "trades": trades, "records": made["records"], "samples": samples,
                "peak_rss_mb": peak}
    finally:
        broker.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--instruments", default="59,10000")
    parser.add_argument("--checkpoints", default="1000000", help="records-in counts at which RSS is read")
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--kafka-script", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    bench = Bench(args.bin_dir, args.kafka_script, args.workdir)
    checkpoints = [int(c) for c in args.checkpoints.split(",") if c]
    runs = [run(bench, int(n), args.trades, checkpoints) for n in args.instruments.split(",")]
    Path(args.out).write_text(json.dumps(runs, indent=2))
    lines = ["| instruments | trades | " + " | ".join(f"RSS MB after {c:,} records" for c in checkpoints)
             + " | RSS MB at the end | peak RSS MB | state MB at the end |",
             "|---" * (len(checkpoints) + 5) + "|"]
    for r in runs:
        figures = " | ".join(f"{s['rss_mb']:.0f}" for s in r["samples"][:-1])
        end = r["samples"][-1]
        lines.append(f"| {r['instruments']:,} | {r['trades']:,} | {figures} | {end['rss_mb']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} | {end['state_mb']:.1f} |")
    print("\n".join(lines))
    print(f"raw results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
