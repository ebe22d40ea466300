"""The services' own figures for the health page: their /metrics, or Prometheus when
PROMETHEUS_URL is set. Totals per service; rates come from two readings."""

import os
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

DEFAULT_SERVICES = {"producer": "http://127.0.0.1:9101", "stream-processor": "http://127.0.0.1:9102",
                    "lake-writer": "http://127.0.0.1:9103", "query-api": "http://127.0.0.1:8000"}


def services():
    """Service name -> base URL: TICKFLOW_SERVICES ("name=url,name=url") or the local stack's ports."""
    configured = os.environ.get("TICKFLOW_SERVICES")
    if not configured:
        return dict(DEFAULT_SERVICES)
    return dict(item.split("=", 1) for item in configured.split(",") if "=" in item)


def reading(name, url):
    """One service's figures now: up, records in/out, consumer lag, rejections, latency p99 by stage."""
    figures = {"service": name, "up": False, "records_in": 0.0, "records_out": 0.0, "consumer_lag": 0.0,
               "rejections": 0.0, "time": time.time()}
    try:
        text = requests.get(f"{url}/metrics", timeout=2).text
    except requests.RequestException:
        return figures
    figures["up"] = True
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tickflow_records_in_total":
                figures["records_in"] += sample.value
            elif sample.name == "tickflow_records_out_total":
                figures["records_out"] += sample.value
            elif sample.name == "tickflow_consumer_lag":
                figures["consumer_lag"] += sample.value
            elif sample.name == "tickflow_rejections_total":
                figures["rejections"] += sample.value
    return figures


def prometheus_query(url, expression):
    """An instant PromQL query: [(labels, value)]."""
    answer = requests.get(f"{url.rstrip('/')}/api/v1/query", params={"query": expression}, timeout=5).json()
    return [(r["metric"], float(r["value"][1])) for r in answer.get("data", {}).get("result", [])]


def rates(previous, current):
    """Records per second between two readings of the same service."""
    seconds = max(current["time"] - previous["time"], 1e-9)
    return {"in": max(current["records_in"] - previous["records_in"], 0) / seconds,
            "out": max(current["records_out"] - previous["records_out"], 0) / seconds}
