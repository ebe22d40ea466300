#!/usr/bin/env bash
# Airflow on this machine, with the project's DAGs pointed at the local stack's lake and warehouse.
#
#   scripts/airflow.sh                 `airflow standalone`: scheduler, DAG processor and the UI on
#                                      http://localhost:8080 (no login: every local user is admin)
#   scripts/airflow.sh <arguments>     any other airflow command, e.g.
#                                      dags test tickflow_marts_hourly 2026-11-22T10:00:00+00:00
#
# Environment: TICKFLOW_LAKE, TICKFLOW_WAREHOUSE (as for make marts), TICKFLOW_BINANCE_REST_URL,
#              AIRFLOW_HOME (default .tickflow/airflow), AIRFLOW_PORT (default 8080).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TICKFLOW_ROOT"
venv="$(bash scripts/python-env.sh dags/requirements.txt)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$TICKFLOW_ROOT/.tickflow/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$TICKFLOW_ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-8080}"
export TICKFLOW_LAKE="$(realpath -m "${TICKFLOW_LAKE:-$TICKFLOW_ROOT/.tickflow/lake}")"
export TICKFLOW_WAREHOUSE="$(realpath -m "${TICKFLOW_WAREHOUSE:-$TICKFLOW_ROOT/.tickflow/warehouse}")"
export PATH="$venv/bin:$PATH"  # airflow standalone starts its parts as `airflow ...`
mkdir -p "$AIRFLOW_HOME"
"$venv/bin/airflow" db migrate >/dev/null
if [ $# -eq 0 ]; then
  exec "$venv/bin/airflow" standalone
fi
exec "$venv/bin/airflow" "$@"
