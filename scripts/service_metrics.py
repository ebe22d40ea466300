"""The services' /metrics in the Prometheus text format, read one way by every script and test,
and the pipeline's topic names as schemas/topics.json declares them."""

import json
import re
import urllib.request
from pathlib import Path

_TOPICS = json.loads((Path(__file__).resolve().parents[1] / "schemas/topics.json").read_text())
RAW_TRADES, ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS = (
    name for name in _TOPICS if not name.startswith("$"))
LAKE_WRITER_INPUTS = (ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS)

_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(port, host="127.0.0.1"):
    """The /metrics text served on a local port; empty when nothing answers."""
    try:
        return urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return ""


def samples(text):
    """Each sample of a Prometheus text: (metric name, labels as a dict, value)."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        yield name, dict(_LABEL.findall(labels)), float(value)


def metric_sum(text, metric, **labels):
    """The sum of the samples of `metric` whose labels include `labels` (a value may also be a
    tuple of accepted values)."""
    def wanted(found):
        return all(found.get(k) in (v if isinstance(v, tuple) else (v,)) for k, v in labels.items())
    return sum(value for name, found, value in samples(text) if name == metric and wanted(found))


def by_label(text, metric, label):
    """The samples of `metric` summed by the value of one label."""
    totals = {}
    for name, found, value in samples(text):
        if name == metric and label in found:
            totals[found[label]] = totals.get(found[label], 0) + value
    return totals
