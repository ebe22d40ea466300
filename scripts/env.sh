# Shared settings for the project's scripts; sourced, not run.
# Caches live outside the clone so repeat runs are fast; a missing cache only costs time.
TICKFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TICKFLOW_ROOT
export TICKFLOW_CACHE="${TICKFLOW_CACHE:-$HOME/.cache/tickflow}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TICKFLOW_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Where the local stack keeps its data, and the lake and the warehouse in it: declared here once
# for every script (the lake-writer, dbt and Airflow all read LAKE_URL).
export TICKFLOW_DATA="${TICKFLOW_DATA:-$TICKFLOW_ROOT/.tickflow}"
export LAKE_URL="${LAKE_URL:-$TICKFLOW_DATA/lake}"
export TICKFLOW_WAREHOUSE="${TICKFLOW_WAREHOUSE:-$TICKFLOW_DATA/warehouse}"

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "tickflow needs a Rust toolchain (cargo, rustc >= 1.88): https://rustup.rs" >&2
    exit 1
  fi
  # The query-api links DuckDB's prebuilt library (fetched once into the cache).
  DUCKDB_LIB_DIR="$(bash "$TICKFLOW_ROOT/scripts/duckdb-lib.sh")"
  export DUCKDB_LIB_DIR
}
