"""The local stack as `make run` runs it (scripts/stack.py: Apache Kafka, the exchange simulator over
TLS, the producer's live venue clients, the stream-processor, the lake-writer, the query-api and
the dashboard, seen in a real browser), stopped with
Ctrl-C and started again on the same data: every trade the producer received (and so had
acknowledged by Kafka, since it flushes before it exits) is in the lake exactly once.

The ground truth is the producer's own capture of what its clients received, replayed through a
fresh pipeline (a replay hands on exactly what the live clients did; test_capture_replay.py)."""

import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser import CANDLE_TIMES, candle_times, chromium, open_page, screenshot
from observability import alert_rules, instant_query, panel_queries, selectors
from pipeline import REPO, Pipeline, free_port, metric_sum, port_free, scrape

BIN_DIR = os.environ.get("TICKFLOW_BIN_DIR", str(REPO / "target/debug"))


def live_candle(api_port, timeout=60):
    """The first candle the query-api's live stream (Server-Sent Events from realtime_metrics) sends."""
    with requests.get(f"http://127.0.0.1:{api_port}/v1/live", params={"metric": "candle"}, stream=True, timeout=timeout) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "candle":
                return json.loads(line.split(":", 1)[1])
    raise AssertionError("the live stream ended without a candle")


def check_read_side(api_port, dashboard_port, profile_dir):
    """While the stack runs: the live stream sends candles, the API serves the lake's candles of
    that instrument before any marts build (all from the stream), and the dashboard shows them."""
    candle = live_candle(api_port)
    assert candle["metric"] == "candle" and candle["trade_count"] > 0
    deadline = time.time() + 60
    while True:
        page = requests.get(f"http://127.0.0.1:{api_port}/v1/candles", params={"instrument": candle["instrument_id"], "interval": "1s"},
                            timeout=30).json()
        if page["candles"] or time.time() > deadline:
            break
        time.sleep(1)
    assert page["candles"] and page["marts_until"] is None and {c["source"] for c in page["candles"]} == {"stream"}
    check_dashboard(f"http://127.0.0.1:{dashboard_port}", candle["instrument_id"], profile_dir)


def health_states(browser, attempts=20):
    """The health page's service states, read again when the page redraws them mid-read."""
    for _ in range(attempts):
        try:
            return [e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]')]
        except StaleElementReferenceException:
            time.sleep(0.5)
    raise AssertionError("the health page kept redrawing its states")


def check_dashboard(url, instrument, profile_dir):
    """In a real browser: every page of the running stack's dashboard loads without an exception,
    and the live instrument page draws a new candle while the test watches, without a reload."""
    browser = chromium(profile_dir)
    try:
        for name, path in (("overview", ""), ("anomalies", "anomalies"), ("quality", "quality"), ("health", "health")):
            open_page(browser, f"{url}/{path}", f"live-{name}")
        states = health_states(browser)
        assert states[:4] == ["up"] * 4, f"the health page sees every service of the stack: {states}"
        open_page(browser, f"{url}/instrument?instrument={instrument}&interval=1s", "live-instrument")
        first = candle_times(browser)
        assert first, "the live page draws the stream's candles"
        newer = WebDriverWait(browser, 60).until(
            lambda b: [t for t in (b.execute_script(CANDLE_TIMES) or []) if t > max(first)])
        assert newer and browser.current_url.endswith("interval=1s"), "a new candle, same page"
        screenshot(browser, "live-instrument-later")
    finally:
        browser.quit()


def check_prometheus(port, jobs):
    """With the stack's Prometheus (`make run OBSERVE=1`): every service is a target that is up,
    every alert rule evaluates without error, every panel of the Grafana dashboards returns
    series, and every metric selector an alert names matches series the services serve."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        targets = requests.get(f"{url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if health == {job: "up" for job in jobs} or time.time() > deadline:
            break
        time.sleep(1)
    assert health == {job: "up" for job in jobs}, health
    time.sleep(16)  # three scrapes, so that every rate() has samples
    empty = [(board, title, expr) for board, title, expr in panel_queries() if not instant_query(url, expr)]
    assert not empty, f"panels without series: {empty}"
    unmatched = [(name, selector) for name, expr in alert_rules() for selector in selectors(expr)
                 if not instant_query(url, f"count({selector})")]
    assert not unmatched, f"alert selectors no service serves: {unmatched}"
    for name, expr in alert_rules():
        instant_query(url, expr)  # parses and evaluates
    deadline = time.time() + 30
    while True:
        groups = requests.get(f"{url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = all(not rule.get("lastEvaluation", "0001").startswith("0001") for rule in rules)  # 0001-01-01: never
        if evaluated or time.time() > deadline:
            break
        time.sleep(1)
    assert len(rules) == len(alert_rules()) and all(rule["health"] == "ok" for rule in rules), rules
    firing = [rule["name"] for rule in rules if rule["state"] == "firing"]
    assert not firing, f"alerts firing on a healthy stack: {firing}"


def run_stack(data, seconds_before_ctrl_c, ports, read_side=False):
    """One `make run` on `data`, interrupted with Ctrl-C (SIGINT) after `seconds_before_ctrl_c`
    of streaming; returns the stream-processor's /metrics text scraped just before the Ctrl-C.
    With `read_side`, the query-api, the dashboard and Prometheus (with the alert rules) are
    checked while it runs."""
    env = dict(os.environ, RUST_LOG="info", KAFKA_TOPIC_PARTITIONS="4",
               PRODUCER_HTTP_ADDR=f"127.0.0.1:{ports['producer']}",
               PROCESSOR_HTTP_ADDR=f"127.0.0.1:{ports['processor']}",
               LAKE_WRITER_HTTP_ADDR=f"127.0.0.1:{ports['lake_writer']}")
    log = open(data / "stack.out", "a")
    stack = subprocess.Popen(
        ["python3", "-u", str(REPO / "scripts/stack.py"), "--root", str(REPO), "--data", str(data), "--bin", BIN_DIR,
         "--broker-port", str(ports["broker"]), "--exchange-port", str(ports["exchange"]), "--rate", "1500",
         "--api-port", str(ports["api"]), "--dashboard-port", str(ports["dashboard"]),
         *(["--dashboard-python", sys.executable, "--prometheus-port", str(ports["prometheus"])] if read_side else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=data)
    try:
        deadline = time.time() + 180
        while metric_sum(scrape(ports["lake_writer"]), "tickflow_rows_written_total") == 0:
            assert stack.poll() is None and time.time() < deadline, (data / "stack.out").read_text()
            time.sleep(0.5)
        if read_side:
            check_read_side(ports["api"], ports["dashboard"], data / "chromium-profile")
            check_prometheus(ports["prometheus"], ["producer", "stream-processor", "lake-writer", "query-api"])
        time.sleep(seconds_before_ctrl_c)
        processor_metrics = scrape(ports["processor"])
        stack.send_signal(signal.SIGINT)
        assert stack.wait(300) == 0, (data / "stack.out").read_text()
    finally:
        if stack.poll() is None:  # a failed check: stop the stack in order, as a Ctrl-C would
            stack.send_signal(signal.SIGTERM)
            try:
                stack.wait(300)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)  # its services are sent SIGTERM when it dies
    return processor_metrics


def trade_keys(lake):
    """Every trade in the lake, by identity (a key twice if it landed twice)."""
    if not list(lake.glob("trades/**/*.parquet")):
        return []
    query = f"select trade_key from read_parquet('{lake}/trades/**/*.parquet', hive_partitioning = true)"
    return [key for (key,) in duckdb.connect().execute(query).fetchall()]


def test_ctrl_c_and_a_new_start_lose_and_repeat_nothing(tmp_path):
    data = tmp_path / "stack"
    data.mkdir()
    subprocess.run(["bash", str(REPO / "scripts/prometheus.sh")], check=True, capture_output=True)
    ports = {name: free_port() for name in ["producer", "processor", "lake_writer", "broker", "api", "dashboard", "prometheus"]}
    ports["exchange"] = free_port_run(4)
    run_stack(data, 6, ports, read_side=True)
    first = trade_keys(data / "lake")
    processor = run_stack(data, 4, ports)
    partitions = metric_sum(processor, "tickflow_assigned_partitions", topic="raw_trades")
    assert metric_sum(processor, "tickflow_events_total", name="state_restored") == partitions == 4, \
        "the second run's processor restores its state from the changelog"

    landed = trade_keys(data / "lake")
    assert len(landed) == len(set(landed)), "no trade lands twice"
    assert set(first) <= set(landed)

    # The oracle: what the producer's clients received in both runs, replayed through a fresh pipeline.
    (tmp_path / "oracle").mkdir()
    oracle = Pipeline(tmp_path / "oracle")
    try:
        oracle.start()
        producer = oracle.producer(data / "capture", rate=0)
        producer.start()
        assert producer.process.wait(300) == 0, producer.tail()
        expected = None
        deadline = time.time() + 180
        while time.time() < deadline:
            expected = trade_keys(oracle.lake)
            if len(expected) >= len(landed):
                break
            time.sleep(2)
    finally:
        oracle.stop()
    assert len(first) > 1000 and len(landed) > len(first)
    missing, extra = set(expected) - set(landed), set(landed) - set(expected)
    assert (len(missing), len(extra)) == (0, 0), f"{len(missing)} received trades missing, {len(extra)} unexpected"


def free_port_run(count):
    """The first of `count` consecutive free ports."""
    while True:
        first = free_port()
        if first + count < 65536 and all(port_free(first + i) for i in range(count)):
            return first

