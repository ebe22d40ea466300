"""The operators' configuration, checked by the real tools: Prometheus' configuration and alert
rules by promtool (Debian's `prometheus` package), each alert by a `promtool test rules` case that
fires it and one that does not, and the Grafana dashboards' expressions parsed by Prometheus'
own parser. tests/e2e/test_stack.py evaluates the same expressions against a running stack."""

import json
import subprocess
import sys

import pytest
import yaml

from observability import OPS, alert_rules, panel_queries, selectors
from pipeline import REPO

PROMETHEUS = OPS / "prometheus"


@pytest.fixture(scope="module")
def promtool():
    folder = subprocess.run(["bash", str(REPO / "scripts/prometheus.sh")], check=True, capture_output=True, text=True)
    return f"{folder.stdout.strip()}/promtool"


def run(*argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_compose_and_the_local_configuration_pass_promtool(promtool, tmp_path):
    assert "SUCCESS" in run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    import stack  # scripts/stack.py, as `make run OBSERVE=1` writes it
    addresses = stack.service_addresses({}, 8000)
    local = tmp_path / "prometheus.yml"
    local.write_text(stack.prometheus_config(addresses, PROMETHEUS / "rules"))
    out = run(promtool, "check", "config", str(local))
    assert "SUCCESS: 8 rules found" in out, out
    compose_jobs = {job["job_name"] for job in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]}
    assert set(addresses) <= compose_jobs, "the local stack scrapes the jobs the compose stack does"


def test_the_rules_pass_promtool_and_their_unit_tests(promtool):
    assert "SUCCESS" in run(promtool, "check", "rules", *map(str, sorted((PROMETHEUS / "rules").glob("*.yml"))))
    out = run(promtool, "test", "rules", *map(str, sorted((PROMETHEUS / "tests").glob("*.test.yml"))))
    assert "SUCCESS" in out and "FAILED" not in out, out


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not():
    cases = {}
    for path in (PROMETHEUS / "tests").glob("*.test.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    names = [name for name, _ in alert_rules()]
    assert len(names) == len(set(names)) >= 8
    untested = {name: sorted(cases.get(name, set())) for name in names if cases.get(name) != {True, False}}
    assert not untested, f"alerts without a firing and a silent case: {untested}"


def test_every_dashboard_is_what_its_generator_writes_and_uses_the_provisioned_datasource():
    sys.path.insert(0, str(OPS / "grafana"))
    import dashboards
    committed = {path.name: path.read_text() for path in (OPS / "grafana/dashboards").glob("*.json")}
    assert committed == {name: dashboards.render(board) for name, board in dashboards.DASHBOARDS.items()}, \
        "run python3 ops/grafana/dashboards.py"
    uid = yaml.safe_load((OPS / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]["uid"]
    for text in committed.values():
        board = json.loads(text)
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        for p in board["panels"]:
            assert p["datasource"]["uid"] == uid and p["targets"], p["title"]


def test_every_panel_expression_parses(promtool, tmp_path):
    """Prometheus' parser, through promtool: each panel's expression as a recording rule."""
    queries = panel_queries()
    assert len(queries) >= 30
    rules = [{"record": f"tickflow:panel_{i}", "expr": expr} for i, (_, _, expr) in enumerate(queries)]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run(promtool, "check", "rules", str(path))
    for _, title, expr in queries:
        assert selectors(expr), f"{title}: reads no tickflow metric"
