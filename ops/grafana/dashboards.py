"""Writes the Grafana dashboards of ops/grafana/dashboards/ from the panel lists below, so every
panel has the same shape (`python3 ops/grafana/dashboards.py`; tests/ops/test_observability.py
checks the committed JSON equals what this writes, and tests/e2e/test_stack.py evaluates every
panel's expression against a running stack's Prometheus)."""

import json
from pathlib import Path

DATASOURCE = {"type": "prometheus", "uid": "tickflow-prometheus"}
SERVICES = 'job=~"producer|stream-processor|lake-writer|query-api"'


def panel(title, unit, *targets, description=""):
    """A time series panel; each target is (PromQL expression, legend)."""
    return {"title": title, "type": "timeseries", "description": description, "datasource": DATASOURCE,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
                        for i, (expr, legend) in enumerate(targets)]}


def quantiles(histogram, by, selector=""):
    """p50 and p99 of a histogram, one series per value of the label `by`."""
    return [(f"histogram_quantile({q}, sum by (le, {by}) (rate({histogram}_bucket{selector}[5m])))",
             "p%d {{%s}}" % (round(q * 100), by)) for q in (0.5, 0.99)]


OVERVIEW = [
    panel("Services up", "none", (f"up{{{SERVICES}}}", "{{job}}"), description="1 while Prometheus scrapes the service"),
    panel("Trades per second, by stage", "ops",
          ('sum by (job, topic) (rate(tickflow_records_in_total[1m]))', "{{job}} in {{topic}}"),
          ('sum by (job, topic) (rate(tickflow_records_out_total[1m]))', "{{job}} out {{topic}}")),
    panel("Consumer lag, by partition", "short",
          ("tickflow_consumer_lag", "{{job}} {{topic}}/{{partition}}")),
    panel("Processing latency (stream-processor)", "s",
          *quantiles("tickflow_latency_seconds", "name", '{job="stream-processor"}'),
          description="receive_to_enriched: venue receive time to the enriched record; window_close_to_final_candle; commit"),
    panel("Visibility latency (lake)", "s", *quantiles("tickflow_latency_seconds", "name", '{job="lake-writer"}'),
          description="read_to_lake: a batch's first record read to the batch committed in the lake"),
    panel("Lake freshness", "s",
          ("max by (topic) (clamp_min(time() - tickflow_lake_oldest_unwritten_timestamp_seconds, 0)"
           " * (tickflow_lake_oldest_unwritten_timestamp_seconds > bool 0))", "{{topic}}"),
          description="Age of the oldest record the lake-writer holds unwritten (0: none held); alert at 30 s"),
    panel("Rejections, by reason", "ops", ("sum by (stage, reason) (rate(tickflow_rejections_total[5m]))", "{{stage}} {{reason}}")),
    panel("Reconnects, by venue", "short",
          ('sum by (name) (increase(tickflow_events_total{job="producer", name=~".+_reconnects"}[5m]))', "{{name}}")),
    panel("Feed gaps and backfills, by venue", "short",
          ('sum by (name) (increase(tickflow_events_total{job="producer", name=~".+_(gaps|unrecovered_gaps|backfilled_trades)"}[5m]))', "{{name}}"),
          ('sum by (venue) (tickflow_source_held)', "held {{venue}}")),
    panel("Lake files and rows written", "short",
          ("sum by (name) (rate(tickflow_files_written_total[5m]))", "files {{name}}"),
          ("sum by (name) (rate(tickflow_rows_written_total[5m]))", "rows {{name}}")),
    panel("CPU, by process", "percentunit", (f"rate(process_cpu_seconds_total{{{SERVICES}}}[1m])", "{{job}}")),
    panel("Memory, by process", "bytes", (f"process_resident_memory_bytes{{{SERVICES}}}", "{{job}}")),
    panel("Venues in session", "none", ("tickflow_venue_in_session", "{{venue}}")),
    panel("Marts age", "s",
          ("(time() - tickflow_api_marts_published_timestamp_seconds) * (tickflow_api_marts_published_timestamp_seconds > bool 0)",
           "{{instance}}"), description="Since the marts the query-api serves were published (0 before the first build)"),
]

QUERY_API = [
    panel("Requests per second, by route and status", "reqps",
          ("sum by (route, status) (rate(tickflow_api_requests_total[1m]))", "{{route}} {{status}}")),
    panel("Request latency, by route", "s", *quantiles("tickflow_api_request_seconds", "route")),
    panel("Live streams", "short", ("tickflow_api_live_subscribers", "open"),
          ("rate(tickflow_api_live_dropped_total[5m])", "dropped/s")),
    panel("Marts reloads", "short", ("increase(tickflow_api_marts_reloads_total[10m])", "reloads")),
]

STREAM_PROCESSOR = [
    panel("State size, by partition", "bytes", ("tickflow_state_bytes", "{{topic}}/{{partition}}")),
    panel("Late trades, by venue", "ops", ("sum by (venue) (rate(tickflow_late_trades_total[5m]))", "{{venue}}")),
    panel("Held feeds: event time the stream is ahead", "s", ("tickflow_source_hold_seconds", "{{venue}}")),
    panel("Rebalance and restore time", "s", *quantiles("tickflow_rebalance_seconds", "name"),
          *quantiles("tickflow_restore_seconds", "topic")),
    panel("Assigned partitions", "short", ("tickflow_assigned_partitions", "{{job}} {{topic}}")),
]


def dashboard(uid, title, panels):
    laid_out = []
    for i, p in enumerate(panels):
        laid_out.append({"id": i + 1, "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}, **p})
    return {"uid": uid, "title": title, "tags": ["tickflow"], "timezone": "utc", "schemaVersion": 39, "version": 1,
            "refresh": "10s", "time": {"from": "now-1h", "to": "now"}, "editable": True, "panels": laid_out}


DASHBOARDS = {
    "pipeline-overview.json": dashboard("tickflow-overview", "tickflow: pipeline overview", OVERVIEW),
    "query-api.json": dashboard("tickflow-query-api", "tickflow: query API", QUERY_API),
    "stream-processor.json": dashboard("tickflow-stream-processor", "tickflow: stream-processor", STREAM_PROCESSOR),
}


def render(board):
    return json.dumps(board, indent=2) + "\n"


if __name__ == "__main__":
    folder = Path(__file__).parent / "dashboards"
    for name, board in DASHBOARDS.items():
        (folder / name).write_text(render(board))
        print(f"wrote {folder / name}")
