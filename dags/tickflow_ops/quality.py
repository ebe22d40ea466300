"""Data-quality checks over the lake as it is now. The marts are rebuilt for recent days into the
checks' own copy (settings.quality_scratch), so the checks see data that arrived after the last
published build and never touch what readers use. Each check raises QualityFailed saying what
is wrong."""

import json
import shutil
from datetime import date

import duckdb

from tickflow_ops import settings
from tickflow_ops.marts import DbtFailed, dbt


class QualityFailed(RuntimeError):
    pass


def _target_path() -> str:
    return str(settings.warehouse() / "dbt-quality")


def source_freshness() -> str:
    """`dbt source freshness` over the lake (warn after 1 h, error after 1 day without new data)."""
    try:
        return dbt("source", "freshness", database=":memory:", target_path=_target_path())
    except DbtFailed as failure:
        raise QualityFailed(f"the lake is stale or unreadable: {failure}") from None


def rebuild_scratch(from_date: date) -> str:
    """Copies the published marts and rebuilds their models from `from_date` on from the lake."""
    scratch = settings.quality_scratch()
    shutil.copyfile(settings.published_marts(), scratch)
    return dbt("run", "--vars", json.dumps({"from_date": from_date.isoformat()}), database=str(scratch),
               target_path=_target_path())


def marts_tests() -> str:
    """Every dbt data test and unit test on the rebuilt copy."""
    try:
        return dbt("test", database=str(settings.quality_scratch()), target_path=_target_path())
    except DbtFailed as failure:
        raise QualityFailed(f"the marts rebuilt from the lake fail their tests: {failure}") from None


def realtime_reconciliation(shown: int = 10) -> int:
    """The stream's final 1 min candles against the candles recomputed from the lake's trades, on
    the rebuilt copy: trade counts and volumes must match exactly. Returns how many windows were
    compared."""
    with duckdb.connect(str(settings.quality_scratch()), read_only=True) as db:
        compared, mismatched = db.execute(
            "select count(*), count(*) filter (where not matches) from rpt_realtime_candle_reconciliation").fetchone()
        examples = db.execute(
            f"""select instrument_id, window_start, realtime_trade_count, batch_trade_count, realtime_volume, batch_volume
                from rpt_realtime_candle_reconciliation where not matches
                order by window_start, instrument_id limit {int(shown)}""").fetchall()
    if mismatched:
        lines = "\n".join(f"  {row[0]} {row[1]}: realtime {row[2]} trades / volume {row[4]}, "
                          f"batch {row[3]} trades / volume {row[5]}" for row in examples)
        raise QualityFailed(f"{mismatched} of {compared} one-minute candles differ between the stream and the "
                            f"lake's trades, for example:\n{lines}")
    return compared
