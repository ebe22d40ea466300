"""The klines backfill DAG's task, one per source: which instruments a run asks of this source,
skipping a source the run does not want or cannot use (no key), and the keys handed to Airflow's
log masker before anything runs."""

import os
from datetime import date

from tickflow_ops import klines
from tickflow_ops.kline_sources import NAMES, SourceNotConfigured, open_source, source_class

KEY_VARIABLES = ("ALPHAVANTAGE_API_KEY", "FINNHUB_API_KEY")


def backfill_task(source: str, day: date, sources: list[str], symbols: list[str]) -> dict:
    """Backfills `day` from `source` for those of `symbols` it serves (all of its instruments when
    `symbols` is empty); the day's report as a dict."""
    from airflow.sdk.exceptions import AirflowSkipException
    from airflow.sdk.log import mask_secret

    for variable in KEY_VARIABLES:
        if os.environ.get(variable, "").strip():
            mask_secret(os.environ[variable].strip(), variable)
    if source not in sources:
        raise AirflowSkipException(f"{source} is not among this run's sources {sources}")
    unknown = [name for name in symbols if not any(source_class(s).serves(name) for s in NAMES)]
    if unknown:
        raise klines.BackfillFailed(f"no source serves {unknown} (schemas/reference/instruments.csv)")
    wanted = [name for name in symbols if source_class(source).serves(name)]
    if symbols and not wanted:
        raise AirflowSkipException(f"{source} serves none of {symbols}")
    try:
        open_source(source)  # its key, before any work
    except SourceNotConfigured as error:
        raise AirflowSkipException(str(error)) from None
    return klines.backfill_day(day, wanted or None, source=source).as_dict()
