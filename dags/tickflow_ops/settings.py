"""Where things are, from the environment, read when a task runs (never when a DAG file is parsed).

TICKFLOW_LAKE       the lake root (default <repo>/.tickflow/lake)
TICKFLOW_WAREHOUSE  where the marts are published (default <repo>/.tickflow/warehouse)
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lake() -> Path:
    return Path(os.environ.get("TICKFLOW_LAKE", REPO / ".tickflow/lake")).resolve()


def warehouse() -> Path:
    return Path(os.environ.get("TICKFLOW_WAREHOUSE", REPO / ".tickflow/warehouse")).resolve()


def published_marts() -> Path:
    return warehouse() / "marts.duckdb"


def quality_scratch() -> Path:
    """The data-quality checks' own copy of the marts, rebuilt from the current lake."""
    return warehouse() / "quality.duckdb"
