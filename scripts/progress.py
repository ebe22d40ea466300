"""The local stack's progress, read from the services' /metrics (scripts/stack.py prints it)."""

import os
import time
import urllib.request
from pathlib import Path

def _port(variable, default):
    return int(os.environ.get(variable, f"127.0.0.1:{default}").rsplit(":", 1)[1])


# Where each service serves /metrics: its *_HTTP_ADDR setting, as the services read it.
SERVICES = {"producer": _port("PRODUCER_HTTP_ADDR", 9101), "stream-processor": _port("PROCESSOR_HTTP_ADDR", 9102),
            "lake-writer": _port("LAKE_WRITER_HTTP_ADDR", 9103)}
OUT = 'tickflow_records_out_total{topic="%s"}'


def scrape(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def total(values, prefix):
    return int(sum(v for k, v in values.items() if k.startswith(prefix)))


class Report:
    """One progress line every few seconds: trades in and out, rejections by reason, candles,
    reported feed gaps, lake rows and files."""

    def __init__(self, lake, every_s=5):
        self.lake, self.every_s = Path(lake), every_s
        self.started = self.last = time.time()

    def due(self):
        if time.time() - self.last < self.every_s:
            return False
        self.last = time.time()
        return True

    def line(self):
        producer, processor, writer = (scrape(p) for p in SERVICES.values())
        rejections = {k.split('reason="')[1].split('"')[0]: int(v) for m in (producer, processor)
                      for k, v in m.items() if k.startswith("tickflow_rejections_total") and v > 0}
        files = len(list(self.lake.glob("*/date=*/symbol=*/*.parquet")))
        produced = total(producer, OUT % "raw_trades")
        enriched = total(processor, OUT % "enriched_trades")
        metrics = total(processor, OUT % "realtime_metrics")
        rows = total(writer, "tickflow_rows_written_total")
        gaps = total(producer, 'tickflow_events_total{name="feed_gap_sent"}')
        return (f"[{time.time() - self.started:5.0f}s] produced {produced} | enriched {enriched} | candles+anomalies"
                f" {metrics} | rejected {rejections or 'none'} | feed gaps {gaps} | lake rows {rows} in {files} files"
                " (counts since each service started)")
