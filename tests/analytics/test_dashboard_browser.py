"""The dashboard in a real browser (Debian's Chromium, headless, driven by Selenium) served by
Streamlit over the real query-api on the fixture lake and marts: every page loads without an
exception, and the instrument page's candlestick chart holds as many candles as the API returns.
Screenshots of every page are saved (browser.py). The live page on the running stack is checked
in tests/e2e/test_stack.py."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from browser import candle_times, chromium, open_page
from pipeline import free_port

REPO = Path(__file__).resolve().parents[2]
DAY = "2023-11-14"


@pytest.fixture(scope="module")
def dashboard_url(query_api, tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("dashboard") / "streamlit.log", "a")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard/app.py"),
                               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                               "--browser.gatherUsageStats", "false"],
                              env=dict(os.environ, TICKFLOW_API_URL=query_api.url), stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        assert server.poll() is None and time.time() < deadline, "streamlit did not start"
        try:
            if requests.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.3)
    yield url
    server.terminate()
    server.wait(30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.mark.parametrize("name,path", [
    ("overview", f"/?date={DAY}"),
    ("anomalies", f"/anomalies?from={DAY}T00:00:00Z&to=2023-11-15T00:00:00Z"),
    ("quality", f"/quality?date={DAY}&from={DAY}T00:00:00Z&to=2023-11-15T00:00:00Z"),
    ("health", "/health"),
])
def test_every_page_loads_without_an_exception(browser, dashboard_url, name, path):
    open_page(browser, dashboard_url + path, name)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text


def test_the_candlestick_chart_holds_the_candles_the_api_returns(browser, dashboard_url, query_api):
    busiest = max(query_api.json("/v1/stats/daily", date=DAY, limit=1000), key=lambda s: s["trade_count"])["instrument_id"]
    open_page(browser, f"{dashboard_url}/instrument?instrument={busiest}&interval=1m&at={DAY}T22:00:00Z", "instrument")
    candles = query_api.json("/v1/candles", instrument=busiest, interval="1m",
                             **{"from": f"{DAY}T19:00:00Z", "to": "2023-11-15T01:00:00Z"}, limit=5000)["candles"]
    assert len(candle_times(browser)) == len(candles) > 0
