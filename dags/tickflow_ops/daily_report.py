"""The daily report of one UTC day, from the published marts: per instrument open, close, return,
realized volatility, VWAP, volume, trade count, anomalies, coverage and feed gaps
(rpt_daily_instrument_report), with charts, as one self-contained HTML file (charts inline as
SVG, no script, no outside resource) at `<warehouse>/reports/daily/<day>.html`.

Rerunning a day replaces its file, and gives the same bytes while the marts are unchanged: the
report shows when the marts were published, not when it was rendered.
"""

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from tickflow_ops import settings

TOP_INSTRUMENTS = 8  # in the intraday chart, by trade count
TEMPLATE = Path(__file__).with_name("templates") / "daily_report.html.j2"


class ReportFailed(RuntimeError):
    pass


@dataclass
class Report:
    day: date
    path: Path
    instruments: int
    trades: int
    complete: bool


def report_file(warehouse: Path, day: date) -> Path:
    return warehouse / "reports" / "daily" / f"{day.isoformat()}.html"


def _records(db, sql: str, *parameters) -> list[dict]:
    cursor = db.execute(sql, list(parameters))
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def gather(marts: Path, day: date) -> dict:
    """Everything the report shows, read from the published marts."""
    with duckdb.connect(str(marts), read_only=True) as db:
        db.execute("set TimeZone = 'UTC'")
        rows = _records(db, "select * from rpt_daily_instrument_report where day = ? order by instrument_id", day)
        cut = db.execute("select max(event_time) from fct_trades").fetchone()[0]
        if not rows:
            raise ReportFailed(f"no trades on {day} in the published marts ({marts}, trades until {cut})")
        rejected = db.execute("select coalesce(sum(rejected), 0) from fct_data_coverage where minute::date = ?",
                              [day]).fetchone()[0]
        top = [r["instrument_id"] for r in sorted(rows, key=lambda r: -r["trade_count"])[:TOP_INSTRUMENTS]]
        closes = _records(db, """select instrument_id, window_start, close from fct_candles_1m
                                  where window_start >= ? and window_start < ? and list_contains(?, instrument_id)
                                  order by instrument_id, window_start""",
                          day, day + timedelta(days=1), top)
        gaps = _records(db, """select instrument_id, gap_start, gap_end, reason, missing_trades from fct_feed_gaps
                               where gap_start::date = ? order by gap_start, instrument_id""", day)
        anomalies = _records(db, """select instrument_id, window_start, kind, observed, score from fct_anomalies
                                    where window_start::date = ? order by score desc, window_start limit 25""", day)
    published = datetime.fromtimestamp(marts.stat().st_mtime, timezone.utc)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc)
    return {"day": day, "rows": rows, "rejected": int(rejected), "closes": closes, "gaps": gaps, "anomalies": anomalies, "top": top,
            "published": published, "trades_until": cut, "complete": cut is not None and cut >= end - timedelta(minutes=1)}


def render(data: dict) -> str:
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["number"] = _number
    environment.filters["decimal"] = _decimal
    template = environment.from_string(TEMPLATE.read_text())
    return template.render(**data, charts=charts(data), totals=_totals(data))


def _totals(data: dict) -> dict:
    rows = data["rows"]
    return {"instruments": len(rows), "trades": sum(r["trade_count"] for r in rows),
            "anomalies": sum(r["anomalies"] for r in rows), "feed_gaps": sum(r["feed_gaps"] for r in rows),
            "rejected": data["rejected"]}


def _decimal(value) -> str:
    """An exact decimal without its trailing zeros, at least two places: 27166.42, 0.00001234."""
    if value is None:
        return "–"
    text = f"{value:,f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _number(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def charts(data: dict) -> dict:
    """name -> inline SVG markup."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "tickflow", "svg.fonttype": "none", "font.size": 9})
    rows = sorted(data["rows"], key=lambda r: r["daily_return"])
    out = {}

    figure, axis = plt.subplots(figsize=(9, max(2.5, 0.22 * len(rows))))
    axis.barh([r["instrument_id"] for r in rows], [100 * r["daily_return"] for r in rows],
              color=["#c0392b" if r["daily_return"] < 0 else "#1e8449" for r in rows])
    axis.set_xlabel("return over the day (%)")
    axis.axvline(0, color="#555", linewidth=0.6)
    out["returns"] = _svg(figure, plt)

    figure, axis = plt.subplots(figsize=(9, 3.6))
    for instrument in data["top"]:
        points = [c for c in data["closes"] if c["instrument_id"] == instrument]
        if points:
            first = float(points[0]["close"])
            axis.plot([c["window_start"] for c in points], [100 * (float(c["close"]) / first - 1) for c in points],
                      linewidth=1, label=instrument)
    axis.set_ylabel("change since the first minute (%)")
    axis.legend(fontsize=7, ncol=4, loc="upper left")
    figure.autofmt_xdate()
    out["intraday"] = _svg(figure, plt)

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.scatter([r["realized_volatility"] for r in data["rows"]], [100 * r["daily_return"] for r in data["rows"]], s=14)
    for r in data["rows"]:
        axis.annotate(r["instrument_id"], (r["realized_volatility"], 100 * r["daily_return"]), fontsize=6)
    axis.set_xlabel("realized volatility")
    axis.set_ylabel("return (%)")
    out["risk"] = _svg(figure, plt)
    return out


def _svg(figure, plt) -> str:
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def write(day: date, warehouse: Path | None = None, marts: Path | None = None) -> Report:
    """Renders `day` from the published marts and replaces its report file."""
    warehouse = warehouse or settings.warehouse()
    data = gather(marts or settings.published_marts(), day)
    path = report_file(warehouse, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(render(data), encoding="utf-8")
    temporary.replace(path)
    return Report(day, path, len(data["rows"]), sum(r["trade_count"] for r in data["rows"]), data["complete"])

