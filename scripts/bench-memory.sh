#!/usr/bin/env bash
# The memory benchmark (P6): the release stream-processor's RSS with the bundled 59 instruments
# and with 10 000 synthetic ones, after 1 M and after 10 M trades; see scripts/memory_bench.py and
# BENCHMARKS.md. Usage: scripts/bench-memory.sh [--trades N] [--instruments 59,10000]
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
bash scripts/kafka.sh libs >/dev/null
venv="$(bash scripts/python-env.sh tests/requirements.txt)"
cargo build --release --locked -p stream-processor -p pipeline-bench
mkdir -p .tickflow/bench
workdir="$(mktemp -d "${TMPDIR:-/tmp}/tickflow-memory.XXXXXX")"
trap 'rm -rf "$workdir"' EXIT
"$venv/bin/python" -u scripts/memory_bench.py --bin-dir "$CARGO_TARGET_DIR/release" --kafka-script scripts/kafka.sh \
  --workdir "$workdir" --out ".tickflow/bench/memory-$(date -u +%Y%m%dT%H%M%SZ).json" "$@"
