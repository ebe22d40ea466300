"""The marts benchmark (P7 in BENCHMARKS.md): how long `make marts` (dbt build of every model and
test, then the atomic publish) takes over a lake of N trades, against a baseline measured in the
same run.

The lake is written by `generate-lake` (the synthetic market through the stream-processing core,
encoded by the lake-writer's encoder, in its layout; about three days of event time) and kept in
the cache for the next run. Measured, each `--repeats` times, medians reported:
- baseline: DuckDB alone reading every trade column of the lake into a table (the floor for
  anything that reads the lake once);
- full build: scripts/marts.sh into an empty warehouse;
- day rebuild: scripts/marts.sh again with from_date = the lake's last day (what the hourly DAG runs).

Usage: scripts/bench-marts.sh [--trades N] [--repeats K]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]


def lake_for(generator, cache, trades):
    lake = cache / f"lake-{trades}"
    if not (lake / ".complete").exists():
        shutil.rmtree(lake, ignore_errors=True)
        print(f"generating a lake of {trades} trades in {lake}", flush=True)
        subprocess.run([generator, "--out", str(lake), "--trades", str(trades)], check=True)
        (lake / ".complete").touch()
    return lake


def timed(command, env):
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stdout[-5000:] + result.stderr[-3000:])
    return elapsed


def baseline(lake):
    started = time.perf_counter()
    with duckdb.connect() as db:
        db.execute(f"create table trades as select * from read_parquet('{lake}/trades/*/*/*.parquet', "
                   "hive_partitioning = true)")
        rows = db.execute("select count(*) from trades").fetchone()[0]
    return time.perf_counter() - started, rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--generator", required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    lake = lake_for(args.generator, args.cache, args.trades)
    files = sum(1 for _ in lake.rglob("*.parquet"))
    size = sum(p.stat().st_size for p in lake.rglob("*.parquet"))
    last_day = max(p.name.removeprefix("date=") for p in (lake / "trades").iterdir())
    runs = {"baseline": [], "full_build": [], "day_rebuild": []}
    rows = None
    for repeat in range(args.repeats):
        elapsed, rows = baseline(lake)
        runs["baseline"].append(elapsed)
        with tempfile.TemporaryDirectory(prefix="tickflow-bench-marts-") as warehouse:
            env = dict(os.environ, LAKE_URL=str(lake), TICKFLOW_WAREHOUSE=warehouse, DBT_TARGET="local")
            marts = ["bash", str(REPO / "scripts/marts.sh")]
            runs["full_build"].append(timed(marts, env))
            runs["day_rebuild"].append(timed(marts + ["--vars", json.dumps({"from_date": last_day})], env))
            with duckdb.connect(f"{warehouse}/marts.duckdb", read_only=True) as db:
                marts_rows = db.execute("select count(*) from fct_trades").fetchone()[0]
        assert marts_rows == rows, (marts_rows, rows)
        print(f"run {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in runs.items()), flush=True)

    medians = {k: statistics.median(v) for k, v in runs.items()}
    report = {
        "trades": rows, "files": files, "lake_bytes": size, "cores": os.cpu_count(), "runs": runs,
        "median_s": medians, "full_build_vs_baseline": medians["full_build"] / medians["baseline"],
        "target_s": 60, "target_met": medians["full_build"] <= 60,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
