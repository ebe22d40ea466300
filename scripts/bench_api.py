"""The query API benchmark (P8 in BENCHMARKS.md): one instrument, one day of 1-minute candles,
requested by `wrk` at a stated concurrency against the release query-api over a stack's lake
(default: what `make run` left in .tickflow/), in two states:

- fresh marts: scripts/marts.sh has just built the marts from the whole lake, so the API reads
  the marts and only the lake files written since their last minute;
- lake only: no marts published, so every candle of the day comes from the lake's files, as
  they are between two marts builds after a long run with the schedule off or failing.

Each state is run --repeats times; the median of each figure is reported, with the lake's file
counts, the answer's size and the API's CPU per request. The stack must be stopped (the numbers
are of a quiet machine; the marts build writes into the data folder's warehouse/).

Usage: scripts/bench-api.sh [--data DIR] [--connections 1,8] [--seconds S] [--repeats K]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import requests

for helpers in ("tests/e2e", "tests/analytics"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / helpers))
from pipeline_bench import cpu_seconds, peak_rss_mb  # noqa: E402
from query_api import QueryApi  # noqa: E402  (the tests' helper: the query-api of TICKFLOW_BIN_DIR)

REPO = Path(__file__).resolve().parents[1]
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_wrk(text):
    """wrk --latency's summary: requests per second and the latency percentiles in ms."""
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    for percent, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        figures[f"p{percent}_ms"] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    figures["non_2xx"] = int(errors.group(1)) if errors else 0
    socket_errors = re.search(r"Socket errors: (.*)", text)
    figures["socket_errors"] = socket_errors.group(1) if socket_errors else ""
    return figures


def lake_files(lake, day):
    """How many Parquet files the lake holds for `day`, per table."""
    return {table.name: sum(1 for _ in table.glob(f"date={day}/symbol=*/*.parquet"))
            for table in sorted(lake.iterdir()) if table.is_dir() and not table.name.startswith(("_", "."))}


def busiest_day_and_instrument(lake):
    """The lake's latest day and its instrument with the most trades (the heaviest chart)."""
    days = sorted(p.name.split("=", 1)[1] for p in (lake / "trades").glob("date=*"))
    if not days:
        raise SystemExit(f"no trades in {lake}: run `make run` for a while first")
    day = days[-1]
    counts = {p.name.split("=", 1)[1]: sum(f.stat().st_size for f in p.glob("*.parquet"))
              for p in (lake / "trades" / f"date={day}").glob("symbol=*")}
    return day, max(counts, key=counts.get)


def measure(api, path, connections, seconds):
    """One wrk run against `path`: its figures, and the API's CPU per request."""
    cpu_before = cpu_seconds(api.process.pid)
    result = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
                             "--timeout", "10s", api.url + path], capture_output=True, text=True, check=True)
    figures = parse_wrk(result.stdout)
    requests_made = figures["rps"] * seconds
    figures["api_cpu_ms_per_request"] = (cpu_seconds(api.process.pid) - cpu_before) * 1e3 / max(requests_made, 1)
    return figures


def run_state(name, lake, marts, path, args):
    """One API over `lake` and `marts`: a result per concurrency, each the medians of --repeats runs."""
    api = QueryApi(lake, marts, args.data / "logs", "--no-live").start(timeout=120)
    results = []
    try:
        answer = requests.get(api.url + path, timeout=60).json()
        candles = answer["candles"]
        sources = sorted({c["source"] for c in candles})
        print(f"{name}: {len(candles)} candles ({', '.join(sources)}), marts until {answer.get('marts_until')}", flush=True)
        for connections in args.connections:
            runs = []
            for repeat in range(args.repeats):
                runs.append(measure(api, path, connections, args.seconds))
                print(f"  {connections} connections, run {repeat + 1}: {runs[-1]}", flush=True)
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]
                      if isinstance(runs[0][key], (int, float))}
            results.append({"state": name, "connections": connections, "candles": len(candles), "sources": sources,
                            "marts_until": answer.get("marts_until"), "runs": runs, "median": median})
        rss = peak_rss_mb(api.process.pid)
    finally:
        api.stop()
    for result in results:
        result["peak_rss_mb"] = rss
    return results


def build_marts(data):
    env = dict(os.environ, TICKFLOW_DATA=str(data), LAKE_URL=str(data / "lake"), TICKFLOW_WAREHOUSE=str(data / "warehouse"))
    started = time.perf_counter()
    result = subprocess.run(["bash", str(REPO / "scripts/marts.sh")], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit("the marts build failed:\n" + result.stdout[-3000:] + result.stderr[-2000:])
    return time.perf_counter() - started


def report(results, files, day, instrument, args, marts_seconds):
    print(f"\nP8: GET one day of {instrument}'s 1-minute candles ({day}), wrk {args.seconds} s x {args.repeats}, medians")
    print(f"lake files of {day}: {files}; marts build {marts_seconds:.1f} s")
    print("| state | connections | candles | req/s | p50 ms | p90 ms | p99 ms | API CPU ms/req | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        m = r["median"]
        print(f"| {r['state']} | {r['connections']} | {r['candles']} | {m['rps']:.0f} | {m['p50_ms']:.1f} | {m['p90_ms']:.1f} | "
              f"{m['p99_ms']:.1f} | {m['api_cpu_ms_per_request']:.2f} | {r['peak_rss_mb']:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / ".tickflow", help="the stack's folder (make run's .tickflow)")
    parser.add_argument("--bin", type=Path, required=True, help="the folder of the release query-api binary")
    parser.add_argument("--connections", default="1,8",
                        help="wrk's concurrent connections, one measurement per value (comma-separated)")
    parser.add_argument("--seconds", type=int, default=20, help="length of one wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    lake = args.data / "lake"
    day, instrument = busiest_day_and_instrument(lake)
    start = date.fromisoformat(day)
    path = (f"/v1/candles?instrument={instrument}&interval=1m&from={start}T00:00:00Z"
            f"&to={start + timedelta(days=1)}T00:00:00Z&limit=1440")
    files = lake_files(lake, day)
    (args.data / "logs").mkdir(exist_ok=True)
    os.environ["TICKFLOW_BIN_DIR"] = str(args.bin)
    print(f"building the marts from {lake}", flush=True)
    marts_seconds = build_marts(args.data)
    results = [*run_state("fresh marts", lake, args.data / "warehouse" / "marts.duckdb", path, args),
               *run_state("lake only", lake, args.data / "warehouse" / "none.duckdb", path, args)]
    report(results, files, day, instrument, args, marts_seconds)
    if args.out:
        args.out.write_text(json.dumps({"when": datetime.now(timezone.utc).isoformat(), "day": day, "instrument": instrument,
                                        "path": path, "lake_files": files, "marts_build_s": marts_seconds,
                                        "results": results}, indent=2))


if __name__ == "__main__":
    main()
