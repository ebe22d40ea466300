"""The venues whose REST APIs the klines backfill reads, behind one shape: a source knows its
venue name, its intervals, which instruments it serves (symbol -> instrument id, from the
reference data), whether it is configured (its key), and fetches one instrument's bars in a time
range. tickflow_ops.klines turns those bars into the lake's `klines` rows.

Each source's base URL and key come from the environment when it is opened, never when a DAG
file is parsed:

| source        | base URL variable (default)                                  | key                     |
|---------------|--------------------------------------------------------------|-------------------------|
| binance       | TICKFLOW_BINANCE_REST_URL (https://api.binance.com)           | none                    |
| alphavantage  | TICKFLOW_ALPHAVANTAGE_URL (https://www.alphavantage.co)       | ALPHAVANTAGE_API_KEY    |
| finnhub       | TICKFLOW_FINNHUB_REST_URL (https://finnhub.io/api/v1)         | FINNHUB_API_KEY         |
"""

import csv
import functools
import os

from tickflow_ops import settings
from tickflow_ops.klines import BackfillFailed

NAMES = ("binance", "alphavantage", "finnhub")


class SourceNotConfigured(RuntimeError):
    """The source needs something the environment does not give (its key)."""


@functools.cache
def reference_instruments() -> tuple[dict, ...]:
    with open(settings.REPO / "schemas/reference/instruments.csv") as f:
        return tuple(csv.DictReader(f))


class Source:
    """What every source shares; a subclass sets `venue`, `intervals` and implements `symbols` and `fetch`."""

    venue: str
    intervals: tuple[str, ...]

    @classmethod
    def symbols(cls) -> dict[str, str]:
        """The source's symbol -> instrument id, for every instrument it serves (reference data
        only: no key needed)."""
        raise NotImplementedError

    def fetch(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list:
        """The `Bar`s of `symbol` opening in [start_ms, end_ms) (a few outside are tolerated), None
        for an entry that could not be read (counted as rejected)."""
        raise NotImplementedError

    def resolve(self, requested: list[str] | None) -> dict[str, str]:
        """symbol -> instrument id of `requested` (the source's symbols or instrument ids; None for
        all); refuses names it does not serve before any request."""
        served = self.symbols()
        if not requested:
            return dict(sorted(served.items()))
        by_instrument = {instrument: symbol for symbol, instrument in served.items()}
        unknown = sorted(name for name in requested if name not in served and name not in by_instrument)
        if unknown:
            raise BackfillFailed(f"not {self.venue} instruments in schemas/reference/instruments.csv: {unknown}")
        symbols = [name if name in served else by_instrument[name] for name in requested]
        return {symbol: served[symbol] for symbol in symbols}

    @classmethod
    def serves(cls, name: str) -> bool:
        """Whether `name` is one of the source's symbols or instrument ids."""
        served = cls.symbols()
        return name in served or name in served.values()


def source_class(name: str) -> type[Source]:
    if name == "binance":
        from tickflow_ops.kline_sources.binance import Binance
        return Binance
    if name == "alphavantage":
        from tickflow_ops.kline_sources.alphavantage import AlphaVantage
        return AlphaVantage
    if name == "finnhub":
        from tickflow_ops.kline_sources.finnhub import Finnhub
        return Finnhub
    raise ValueError(f"unknown klines source {name!r} (known: {', '.join(NAMES)})")


def open_source(name: str, url: str | None = None) -> Source:
    """The source called `name`, at `url` or its configured base URL; SourceNotConfigured when its
    key is missing."""
    return source_class(name)(url)


def required_key(variable: str, venue: str) -> str:
    key = os.environ.get(variable, "").strip()
    if not key:
        raise SourceNotConfigured(f"{variable} is not set: the {venue} backfill needs its API key")
    return key
