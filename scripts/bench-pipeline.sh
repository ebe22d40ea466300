#!/usr/bin/env bash
# The pipeline benchmark (P3-P5): release builds on a local Apache Kafka broker; see
# scripts/pipeline_bench.py for what it runs and BENCHMARKS.md for the figures.
# Usage: scripts/bench-pipeline.sh [--trades N] [--repeats K] [--rates 10000,30000] [--seconds S]
#        scripts/bench-pipeline.sh --soak-minutes 30 --rates 10000     (the soak: first and last 5 minutes)
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
bash scripts/kafka.sh libs >/dev/null  # fetches the broker's jars on first use
venv="$(bash scripts/python-env.sh tests/requirements.txt)"
cargo build --release --locked -p producer -p stream-processor -p lake-writer -p pipeline-bench
mkdir -p .tickflow/bench
exec "$venv/bin/python" -u scripts/pipeline_bench.py --bin-dir "$CARGO_TARGET_DIR/release" --kafka-script scripts/kafka.sh \
  --out ".tickflow/bench/pipeline-$(date -u +%Y%m%dT%H%M%SZ).json" "$@"
