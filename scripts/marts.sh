#!/usr/bin/env bash
# Builds the marts from the lake with dbt on DuckDB and publishes them for readers.
#
# dbt builds into <warehouse>/build.duckdb; when the build and its tests pass, a copy replaces
# <warehouse>/marts.duckdb in one rename. Readers (the dashboard, a DuckDB shell) open
# marts.duckdb read-only and never see a half-built database or wait for a build.
#
# Usage: scripts/marts.sh [dbt build arguments, e.g. --vars '{from_date: 2026-11-22}']
# Environment: LAKE_URL (default in scripts/env.sh: .tickflow/lake; or s3://bucket/prefix with
#              DBT_TARGET=s3), TICKFLOW_WAREHOUSE (default .tickflow/warehouse), DBT_TARGET (local, s3, ci).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TICKFLOW_ROOT"
# dbt's environment: made here when run by hand; a scheduler made it before it started
# (TICKFLOW_DBT_VENV, set by scripts/airflow.sh), so no task ever creates one.
venv="${TICKFLOW_DBT_VENV:-$(bash scripts/python-env.sh dbt_project/requirements.txt)}"

lake="$LAKE_URL"
case "$lake" in s3://*) ;; *) lake="$(realpath -m "$lake")" ;; esac
warehouse="$(realpath -m "$TICKFLOW_WAREHOUSE")"
mkdir -p "$warehouse"
export LAKE_URL="$lake" TICKFLOW_WAREHOUSE_BUILD="$warehouse/build.duckdb"

if [ "${DBT_TARGET:-local}" = s3 ]; then
  # httpfs comes from the duckdb-extension-httpfs wheel, installed into a fixed directory.
  export DUCKDB_EXTENSION_DIRECTORY="$TICKFLOW_CACHE/duckdb-extensions"
  "$venv/bin/python" - <<'PY'
import glob, os, duckdb, duckdb_extension_httpfs
path = glob.glob(os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__), "**/httpfs.duckdb_extension"), recursive=True)[0]
duckdb.connect(config={"extension_directory": os.environ["DUCKDB_EXTENSION_DIRECTORY"]}).install_extension(path)
PY
fi

cd dbt_project
"$venv/bin/dbt" build --profiles-dir . --target-path "$warehouse/dbt-target" --log-path "$warehouse/dbt-logs" "$@"
cp "$warehouse/build.duckdb" "$warehouse/marts.duckdb.publishing"
mv -f "$warehouse/marts.duckdb.publishing" "$warehouse/marts.duckdb"
echo "marts published: $warehouse/marts.duckdb (lake: $lake)"
