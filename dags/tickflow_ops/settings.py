"""Where things are, from the environment, read when a task runs (never when a DAG file is parsed).

LAKE_URL            the lake root: a folder, or s3://bucket/prefix (AWS_* variables: endpoint, keys)
TICKFLOW_WAREHOUSE  where the marts are published
TICKFLOW_DBT_VENV   dbt's Python environment, made before the scheduler starts

The first two are declared once, with their defaults, in scripts/env.sh; scripts/airflow.sh
sources it and makes the third.
"""

import os
from pathlib import Path

from tickflow_ops.lake_paths import S3Path, lake_path

REPO = Path(__file__).resolve().parents[2]


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"{name} is not set: start Airflow through scripts/airflow.sh, or set it")
    return value


def lake() -> Path | S3Path:
    return lake_path(_required("LAKE_URL"))


def warehouse() -> Path:
    return Path(_required("TICKFLOW_WAREHOUSE")).resolve()


def dbt_venv() -> Path:
    return Path(_required("TICKFLOW_DBT_VENV"))


def published_marts() -> Path:
    return warehouse() / "marts.duckdb"


def quality_scratch() -> Path:
    """The data-quality checks' own copy of the marts, rebuilt from the current lake."""
    return warehouse() / "quality.duckdb"
