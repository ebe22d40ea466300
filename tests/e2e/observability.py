"""The PromQL that operators depend on, read from the repo: every alert rule of
ops/prometheus/rules and every panel of the Grafana dashboards in ops/grafana/dashboards, and
the metric selectors each names (what a service's /metrics must serve)."""

import json
import re

import requests
import yaml

from pipeline import REPO

OPS = REPO / "ops"
SELECTOR = re.compile(r"\b((?:tickflow|process)_[a-zA-Z0-9_]+|up)\b(\{[^}]*\})?")


def alert_rules():
    """(alert name, expression) of every alerting rule."""
    rules = []
    for path in sorted((OPS / "prometheus/rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [(rule["alert"], rule["expr"]) for rule in group["rules"] if "alert" in rule]
    return rules


def panel_queries():
    """(dashboard file, panel title, expression) of every panel target."""
    queries = []
    for path in sorted((OPS / "grafana/dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            queries += [(path.name, panel["title"], target["expr"]) for target in panel["targets"]]
    return queries


def selectors(expression):
    """The metric selectors an expression reads, with their label matchers."""
    return sorted({name + (labels or "") for name, labels in SELECTOR.findall(expression)})


def instant_query(prometheus_url, expression):
    """The result of an instant query; an expression Prometheus cannot parse fails here, naming it."""
    answer = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expression}, timeout=30).json()
    assert answer["status"] == "success", f"{expression}: {answer.get('error')}"
    return answer["data"]["result"]
