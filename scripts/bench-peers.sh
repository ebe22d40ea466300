#!/usr/bin/env bash
# The peers benchmark (P2): tickflow's stream-processor, Spark Structured Streaming (PySpark),
# Flink SQL (PyFlink) and DuckDB on the same raw_trades in one local Apache Kafka broker; see
# scripts/peers_bench.py for what it runs and BENCHMARKS.md for the figures.
# Usage: scripts/bench-peers.sh [--trades N] [--engines tickflow,duckdb,spark,flink]
# First run: PySpark 4.2 and PyFlink 2.2 from PyPI into two venvs (~1.3 GB, a few minutes) and
# their Kafka connectors from Maven Central into the cache.
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
bash scripts/kafka.sh libs >/dev/null  # fetches the broker's jars on first use

# A connector's jars from Maven Central into the cache, once: prints the folder.
connector() {
  local pom="$1" dir="$TICKFLOW_CACHE/tools/$2"
  if [ ! -f "$dir/.complete" ]; then
    echo "fetching $2 from Maven Central into $dir (first run only)" >&2
    rm -rf "$dir"
    mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir" >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}
tests_venv="$(bash scripts/python-env.sh tests/requirements.txt)"
spark_venv="$(bash scripts/python-env.sh bench/peers/spark/requirements.txt)"
flink_venv="$(bash scripts/python-env.sh bench/peers/flink/requirements.txt)"
spark_jars="$(connector bench/peers/spark/pom.xml spark-sql-kafka-4.2.0)"
flink_jars="$(connector bench/peers/flink/pom.xml flink-sql-connector-kafka-5.0.0-2.2)"
cargo build --release --locked -p stream-processor -p pipeline-bench
mkdir -p .tickflow/bench
workdir="$(mktemp -d "${TMPDIR:-/tmp}/tickflow-peers.XXXXXX")"
trap 'rm -rf "$workdir"' EXIT
"$tests_venv/bin/python" -u scripts/peers_bench.py --bin-dir "$CARGO_TARGET_DIR/release" \
  --kafka-script scripts/kafka.sh --tests-python "$tests_venv/bin/python" \
  --spark-python "$spark_venv/bin/python" --spark-jars "$spark_jars" \
  --flink-python "$flink_venv/bin/python" --flink-jar "$flink_jars/flink-sql-connector-kafka-5.0.0-2.2.jar" \
  --workdir "$workdir" --out ".tickflow/bench/peers-$(date -u +%Y%m%dT%H%M%SZ).json" "$@"
