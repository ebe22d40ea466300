"""The local stack's progress, read from the services' /metrics (scripts/stack.py prints it)."""

import os
import time
from pathlib import Path

from service_metrics import ENRICHED_TRADES, RAW_TRADES, REALTIME_METRICS, by_label, metric_sum, scrape

def _port(variable, default):
    return int(os.environ.get(variable, f"127.0.0.1:{default}").rsplit(":", 1)[1])


# Where each service serves /metrics: its *_HTTP_ADDR setting, as the services read it.
SERVICES = {"producer": _port("PRODUCER_HTTP_ADDR", 9101), "stream-processor": _port("PROCESSOR_HTTP_ADDR", 9102),
            "lake-writer": _port("LAKE_WRITER_HTTP_ADDR", 9103)}


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
        rejections = {}
        for text in (producer, processor):
            for reason, count in by_label(text, "tickflow_rejections_total", "reason").items():
                if count > 0:
                    rejections[reason] = rejections.get(reason, 0) + int(count)
        files = len(list(self.lake.glob("*/date=*/symbol=*/*.parquet")))
        produced = int(metric_sum(producer, "tickflow_records_out_total", topic=RAW_TRADES))
        enriched = int(metric_sum(processor, "tickflow_records_out_total", topic=ENRICHED_TRADES))
        metrics = int(metric_sum(processor, "tickflow_records_out_total", topic=REALTIME_METRICS))
        rows = int(metric_sum(writer, "tickflow_rows_written_total"))
        gaps = int(metric_sum(producer, "tickflow_events_total", name="feed_gap_sent"))
        return (f"[{time.time() - self.started:5.0f}s] produced {produced} | enriched {enriched} | candles+anomalies"
                f" {metrics} | rejected {rejections or 'none'} | feed gaps {gaps} | lake rows {rows} in {files} files"
                " (counts since each service started)")
