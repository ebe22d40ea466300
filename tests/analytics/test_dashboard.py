"""Every dashboard page run headless (streamlit.testing.v1.AppTest) against the real query-api
over the fixture lake and its marts: no exception, the figures the API returns, clear empty
states, and an error banner naming the API when it is down."""

import os
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "dashboard/app.py")
sys.path.insert(0, str(REPO / "dashboard"))
DAY = "2023-11-14"


@pytest.fixture()
def dashboard(query_api, monkeypatch):
    monkeypatch.setenv("TICKFLOW_API_URL", query_api.url)

    def page(path, **params):
        app = AppTest.from_file(APP, default_timeout=60)
        for key, value in params.items():
            app.query_params[key] = value
        app.run()
        if path != "views/overview.py":
            app.switch_page(path).run()
        assert not app.exception, [e.message for e in app.exception]
        return app
    return page


def texts(app):
    return " ".join(str(e.value) for e in [*app.info, *app.error, *app.caption, *app.markdown])


def test_overview_lists_every_instrument_of_the_day(dashboard, query_api):
    app = dashboard("views/overview.py", date=DAY)
    stats = query_api.json("/v1/stats/daily", date=DAY, limit=1000)
    table = app.dataframe[0].value
    assert len(table) == len(stats) and set(table["instrument"]) == {s["instrument_id"] for s in stats}
    assert app.metric[1].value == f"{sum(s['trade_count'] for s in stats):,}"
    gainer = query_api.json("/v1/stats/daily", date=DAY, order="gainers", limit=1)[0]["instrument_id"]
    assert app.metric[2].value == gainer


def test_overview_says_when_a_day_has_no_trades(dashboard):
    app = dashboard("views/overview.py", date="2001-01-01")
    assert "No trades yet for 2001-01-01" in texts(app)


def test_instrument_page_charts_the_candles_the_api_returns(dashboard, query_api):
    busiest = max(query_api.json("/v1/stats/daily", date=DAY, limit=1000), key=lambda s: s["trade_count"])["instrument_id"]
    # The page shows 6 hours of minutes around `at`: from 3 hours before it to 3 hours after.
    app = dashboard("views/instrument.py", instrument=busiest, interval="1m", at=f"{DAY}T22:00:00Z")
    candles = query_api.json("/v1/candles", instrument=busiest, interval="1m",
                             **{"from": f"{DAY}T19:00:00Z", "to": "2023-11-15T01:00:00Z"}, limit=5000)["candles"]
    assert candles, "the fixture market trades in these hours"
    assert app.metric[3].value == str(len(candles))
    chart = app.get("plotly_chart")[0].proto.spec
    assert '"candlestick"' in chart and '"VWAP"' in chart


def test_anomalies_page_links_each_record_to_its_chart(dashboard, query_api):
    app = dashboard("views/anomalies.py", **{"from": f"{DAY}T00:00:00Z", "to": "2023-11-15T00:00:00Z"})
    anomalies = query_api.json("/v1/anomalies", **{"from": f"{DAY}T00:00:00Z", "to": "2023-11-15T00:00:00Z"}, limit=5000)
    table = app.dataframe[0].value
    assert len(table) == len(anomalies)
    assert all(link.startswith("/instrument?instrument=") and "&at=" in link for link in table["open"])


def test_quality_page_shows_coverage_and_reconciliation(dashboard, query_api):
    app = dashboard("views/quality.py", date=DAY, **{"from": f"{DAY}T00:00:00Z", "to": "2023-11-15T00:00:00Z"})
    status = query_api.json("/v1/status", date=DAY)
    assert app.metric[0].value == str(status["reconciliation"]["windows_compared"])
    assert len(app.get("plotly_chart")) >= 1, "the coverage heat map"


def test_health_page_shows_each_service(dashboard, query_api, monkeypatch):
    monkeypatch.setenv("TICKFLOW_SERVICES", f"query-api={query_api.url},producer=http://127.0.0.1:9")
    app = dashboard("views/health.py")
    values = {m.label: m.value for m in app.metric}
    assert values["query-api"] == "up" and values["producer"] == "down"


def test_health_page_shows_the_scheduled_checks_of_the_latest_interval(dashboard, query_api, monkeypatch, tmp_path):
    from datetime import datetime, timedelta, timezone

    from tickflow_ops import health

    monkeypatch.setenv("TICKFLOW_SERVICES", f"query-api={query_api.url}")
    monkeypatch.setenv("TICKFLOW_WAREHOUSE", str(tmp_path))
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    older, latest = now - timedelta(minutes=20), now - timedelta(minutes=10)
    health.record([health.Check("readiness", "lake-writer", 200, 200, True, "ready")], older, latest, now, tmp_path)
    health.record([health.Check("readiness", "lake-writer", 0, 200, False, "no answer"),
                   health.Check("feed_gaps", "lake", 0, 0, True)], latest, now, now, tmp_path)
    app = dashboard("views/health.py")
    assert any("1 of 2 checks failed" in str(e.value) and "readiness lake-writer" in str(e.value) for e in app.error)
    table = app.dataframe[-1].value
    assert list(table["check_name"]) == ["feed_gaps", "readiness"] and list(table["healthy"]) == [True, False]
    assert '"failed checks"' in app.get("plotly_chart")[-1].proto.spec


def test_reports_page_lists_the_daily_reports_newest_first(dashboard, monkeypatch, tmp_path):
    monkeypatch.setenv("TICKFLOW_WAREHOUSE", str(tmp_path))
    folder = tmp_path / "reports/daily"
    folder.mkdir(parents=True)
    for day in ("2023-11-13", "2023-11-14"):
        (folder / f"{day}.html").write_text(f"<html><body><h1>Daily report: {day}</h1></body></html>")
    app = dashboard("views/reports.py")
    assert app.selectbox[0].options == ["2023-11-14", "2023-11-13"] and app.selectbox[0].value == "2023-11-14"
    assert app.get("download_button"), "the report can be downloaded"
    assert "<h1>Daily report: 2023-11-14</h1>" in app.get("iframe")[0].proto.srcdoc, "the chosen report is shown"


def test_reports_page_says_how_reports_appear_when_there_is_none(dashboard, monkeypatch, tmp_path):
    monkeypatch.setenv("TICKFLOW_WAREHOUSE", str(tmp_path))
    app = dashboard("views/reports.py")
    assert "No daily report yet" in texts(app)


@pytest.mark.parametrize("page", ["views/overview.py", "views/instrument.py", "views/anomalies.py", "views/quality.py", "views/health.py"])
def test_an_unreachable_api_is_a_banner_naming_it_not_a_traceback(page, monkeypatch):
    monkeypatch.setenv("TICKFLOW_API_URL", "http://127.0.0.1:9")
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    if page != "views/overview.py":
        app.switch_page(page).run()
    assert not app.exception, [e.message for e in app.exception]
    assert any("http://127.0.0.1:9" in str(e.value) and "unreachable" in str(e.value) for e in app.error)


def test_volume_without_a_side_is_drawn_as_such():
    import charts
    import pandas as pd

    candles = pd.DataFrame({"window_start": pd.to_datetime(["2023-11-14T22:00:00Z", "2023-11-14T22:01:00Z"]),
                            "open": [1.0, 1.0], "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.5], "vwap": [1.2, 1.2],
                            "volume": [5.0, 4.0], "buy_volume": [0.0, 3.0], "sell_volume": [0.0, 1.0]})
    bars = {t.name: list(t.y) for t in charts.candlestick(candles).data if t.type == "bar"}
    assert bars == {"buy volume": [0.0, 3.0], "sell volume": [0.0, 1.0], "volume, side unknown": [5.0, 0.0]}
    sided = candles.assign(buy_volume=[2.0, 3.0], sell_volume=[3.0, 1.0])
    assert "volume, side unknown" not in {t.name for t in charts.candlestick(sided).data}
