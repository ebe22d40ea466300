#!/usr/bin/env bash
# The reliability suite of RELIABILITY.md, run on its own, and the table of what it observed.
#
#   scripts/reliability.sh            runs the tests (about 15 min warm), prints the table
#   scripts/reliability.sh --write    also puts the table into RELIABILITY.md
#
# TICKFLOW_KILL_SEED=N replays the kill tests' moments of another seed (default 11).
set -euo pipefail
source "$(dirname "$0")/env.sh"
need_cargo
cd "$TICKFLOW_ROOT"
write=false
case "${1:-}" in
  --write) write=true ;;
  "") ;;
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: scripts/reliability.sh [--write]" >&2; exit 2 ;;
esac

bash scripts/kafka.sh libs >/dev/null
cargo build --workspace --locked --bins
venv="$(bash scripts/python-env.sh tests/requirements.txt)"
bash scripts/python-env.sh dbt_project/requirements.txt >/dev/null
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
TICKFLOW_RELIABILITY_OUT="$out" TICKFLOW_BIN_DIR="$CARGO_TARGET_DIR/debug" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/e2e/test_pipeline.py tests/e2e/test_producer_restart.py tests/e2e/test_feed_gaps.py tests/e2e/test_bad_input.py \
  tests/e2e/test_secrets.py tests/e2e/test_backpressure.py "tests/e2e/test_s3_lake.py::test_an_s3_outage_of_30_s_loses_nothing_and_holds_memory" \
  "tests/e2e/test_s3_lake.py::test_a_put_whose_response_is_lost_is_verified_not_duplicated"
table="$(python3 scripts/reliability_table.py "$out")"
echo "$table"
if $write; then
  python3 scripts/reliability_table.py "$out" --into RELIABILITY.md
  echo "RELIABILITY.md updated"
fi
