#!/usr/bin/env bash
# Rolls up the local lake's open days: in each table/date/symbol folder, the files written in
# each closed 10-minute window become one, every row kept (dags/tickflow_ops/compaction.py).
# The local stack runs it before each marts build; safe next to a running lake-writer.
# Usage: scripts/roll-up.sh [--window-minutes M] [--settle-minutes S]
# Environment: LAKE_URL (default .tickflow/lake); an s3:// lake is left alone.
set -euo pipefail
source "$(dirname "$0")/env.sh"
case "$LAKE_URL" in
  s3://*) echo "roll-up: $LAKE_URL is not a local folder; nothing rolled up"; exit 0 ;;
esac
venv="${TICKFLOW_DBT_VENV:-$(bash "$TICKFLOW_ROOT/scripts/python-env.sh" "$TICKFLOW_ROOT/dbt_project/requirements.txt")}"
PYTHONPATH="$TICKFLOW_ROOT/dags" exec "$venv/bin/python" -m tickflow_ops.compaction --lake "$LAKE_URL" "$@"
