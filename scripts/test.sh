#!/usr/bin/env bash
# The whole test suite: the fast tier (scripts/test-fast.sh), the Rust tests against Apache Kafka,
# the end-to-end and analytics tests, then one summary line.
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
bash scripts/test-fast.sh 2>&1 | tee "$log"
echo "== broker (Apache Kafka's jars)"
bash scripts/kafka.sh libs
echo "== rust tests against Apache Kafka (the adapter, the stream-processor, the lake-writer)"
cargo test --locked -p tickflow-kafka -p stream-processor -p lake-writer --test kafka --test processor --test lake_writer 2>&1 | tee -a "$log"

echo "== fuzzing, smoke run (scripts/fuzz.sh runs for longer): every seed and kept crash replayed, 15 s per target"
bash scripts/fuzz.sh --smoke

echo "== end-to-end (Apache Kafka + producer + stream-processor + lake-writer, lake read by DuckDB and pyarrow) and analytics (dbt, Airflow)"
cargo build --workspace --locked --bins
venv="$(bash scripts/python-env.sh tests/requirements.txt)"
bash scripts/python-env.sh dbt_project/requirements.txt >/dev/null
bash scripts/python-env.sh dags/requirements.txt >/dev/null
TICKFLOW_BIN_DIR="$CARGO_TARGET_DIR/debug" "$venv/bin/python" -m pytest tests -q -p no:cacheprovider 2>&1 | tee -a "$log"

# One closing line for the whole suite.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     /^[0-9]+ (passed|failed|skipped)/ {   # pytest: "1 failed, 7 passed, 2 skipped in 9.1s"
       for (i = 2; i <= NF; i++) {
         if ($i ~ /^passed/) passed += $(i - 1)
         if ($i ~ /^failed/) failed += $(i - 1)
         if ($i ~ /^skipped/) ignored += $(i - 1)
       } }
     END { printf "tickflow: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
