#!/usr/bin/env bash
# The marts benchmark (P7): `dbt build` over a generated lake of 10 M trades; see
# scripts/bench_marts.py for what it runs and BENCHMARKS.md for the figures.
# Usage: scripts/bench-marts.sh [--trades N] [--repeats K]
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
cargo build --release --locked -p pipeline-bench --bin generate-lake
venv="$(bash scripts/python-env.sh dbt_project/requirements.txt)"
mkdir -p .tickflow/bench
exec "$venv/bin/python" -u scripts/bench_marts.py --generator "$CARGO_TARGET_DIR/release/generate-lake" \
  --cache "$TICKFLOW_CACHE/bench" --out ".tickflow/bench/marts-$(date -u +%Y%m%dT%H%M%SZ).json" "$@"
