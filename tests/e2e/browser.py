"""The dashboard in a real browser: Debian's Chromium, headless, driven by Selenium (installed by
scripts/chromium.sh when missing). Screenshots go under the test output folder
(TICKFLOW_TEST_OUTPUT, default .tickflow/test-output), in dashboard/."""

import os
import subprocess
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("TICKFLOW_TEST_OUTPUT", REPO / ".tickflow/test-output")) / "dashboard"

# The candlestick trace of the first Plotly chart on the page: its candles' start times, or null.
CANDLE_TIMES = ("const plot = document.querySelector('.js-plotly-plot');"
                "const trace = plot && plot.data.find(t => t.type === 'candlestick');"
                "return trace ? Array.from(trace.x).map(String) : null;")


def chromium(profile_dir):
    """A headless Chromium driven by Selenium, with its own profile folder."""
    binary = subprocess.run(["bash", str(REPO / "scripts/chromium.sh")], capture_output=True, text=True, check=True).stdout.strip()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1600,1200",
                 f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


# What a page shows once its data has arrived: a chart, a table, a metric, or an empty or error notice.
CONTENT = '.js-plotly-plot, [data-testid="stDataFrame"], [data-testid="stMetric"], [data-testid="stAlert"]'


def open_page(browser, url, name, timeout=90):
    """Opens `url`, waits until Streamlit has run the page's script and drawn its content, saves a
    screenshot as `name`.png and fails with the page's exception if it shows one (or if the
    path is not one of the app's pages)."""
    browser.get(url)
    wait = WebDriverWait(browser, timeout)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "h1")))
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, CONTENT)))
    # Streamlit shows a running indicator while the script runs; wait until it is gone.
    wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    time.sleep(1)
    screenshot(browser, name)
    exceptions = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not exceptions, exceptions[0].text
    assert "Page not found" not in browser.find_element(By.TAG_NAME, "body").text, f"{url} is not a page of the app"


def screenshot(browser, name):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(OUTPUT / f"{name}.png"))


def candle_times(browser, timeout=30):
    """The start times of the candles the page's candlestick chart draws (waits for the chart)."""
    return WebDriverWait(browser, timeout).until(lambda b: b.execute_script(CANDLE_TIMES))
