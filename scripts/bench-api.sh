#!/usr/bin/env bash
# The query API benchmark (P8): one day of one instrument's 1-minute candles under wrk, on fresh
# marts and on the lake alone; see scripts/bench_api.py and BENCHMARKS.md for the figures.
# Run it after `make run` has run a while (and is stopped).
# Usage: scripts/bench-api.sh [--data DIR] [--connections 1,8] [--seconds S] [--repeats K]
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
bash scripts/debian-install.sh /usr/bin/wrk wrk
cargo build --release --locked -p query-api
venv="$(bash scripts/python-env.sh tests/requirements.txt)"
mkdir -p .tickflow/bench .tickflow/logs
exec "$venv/bin/python" -u scripts/bench_api.py --bin "$CARGO_TARGET_DIR/release" \
  --out ".tickflow/bench/api-$(date -u +%Y%m%dT%H%M%SZ).json" "$@"
