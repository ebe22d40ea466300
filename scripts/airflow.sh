#!/usr/bin/env bash
# Airflow on this machine, with the project's DAGs pointed at the local stack's lake and warehouse.
#
#   scripts/airflow.sh                 `airflow standalone`: scheduler, DAG processor and the UI on
#                                      http://localhost:8080 (no login: every local user is admin)
#   scripts/airflow.sh <arguments>     any other airflow command, e.g.
#                                      dags test tickflow_marts_hourly 2026-11-22T10:00:00+00:00
#
# Environment: LAKE_URL, TICKFLOW_WAREHOUSE (as for make marts), TICKFLOW_BINANCE_REST_URL,
#              AIRFLOW_HOME (default .tickflow/airflow), AIRFLOW_PORT (default 8080),
#              AIRFLOW__CORE__PARALLELISM (default: the number of cores, at least 2).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TICKFLOW_ROOT"
venv="$(bash scripts/python-env.sh dags/requirements.txt)"
# dbt's own environment, made now so that no task has to (tickflow_ops.settings.dbt_venv).
export TICKFLOW_DBT_VENV="${TICKFLOW_DBT_VENV:-$(bash scripts/python-env.sh dbt_project/requirements.txt)}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$TICKFLOW_ROOT/.tickflow/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$TICKFLOW_ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-8080}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
# Task processes report to the API server's execution API: on the port it really listens on.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:$AIRFLOW__API__PORT/execution/}"
export LAKE_URL="$(realpath -m "$LAKE_URL")"
export TICKFLOW_WAREHOUSE="$(realpath -m "$TICKFLOW_WAREHOUSE")"
export PATH="$venv/bin:$PATH"  # airflow standalone starts its parts as `airflow ...`
# The SQLite metadata database waits up to 60 s for a lock instead of 5 s: with the scheduler,
# the DAG processor, the API server and task processes writing at once on a busy machine, 5 s
# ran out and the scheduler died ("database is locked"), leaving triggered runs queued forever.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db?timeout=60}"
# So a task's calls to the API server outlast that wait: with Airflow's 5 s, a task whose start
# (PATCH .../run) waited on the lock failed its five retries within 35 s and was killed, while
# every Airflow process resumed 61 s later.
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-90}"
mkdir -p "$AIRFLOW_HOME"
"$venv/bin/airflow" db migrate >/dev/null
# Sized for the machine: the LocalExecutor starts `parallelism` worker processes (Airflow's
# default is 32), and the API server one process per worker.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-$(( $(nproc) > 2 ? $(nproc) : 2 ))}"
export AIRFLOW__API__WORKERS="${AIRFLOW__API__WORKERS:-1}"
if [ $# -eq 0 ]; then
  # Its own process group, so Ctrl-C stops every Airflow process: SIGTERM to all of them, and
  # after 10 s SIGKILL to whatever is left (LocalExecutor workers can sit out a SIGTERM).
  set -m
  "$venv/bin/airflow" standalone &
  airflow_pid=$!
  stop() {
    trap - INT TERM
    kill -TERM -- "-$airflow_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      pgrep -g "$airflow_pid" >/dev/null || exit 0
      sleep 0.2
    done
    echo "airflow: processes still running after 10 s; killing them" >&2
    kill -KILL -- "-$airflow_pid" 2>/dev/null || true
    exit 0
  }
  trap stop INT TERM
  wait "$airflow_pid"
  exit $?
fi
exec "$venv/bin/airflow" "$@"
