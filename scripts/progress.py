"""Prints the local stack's progress every few seconds: trades in and out, rejections by
reason, candles, reported feed gaps and lake files. Exits after the given number of seconds (0: never), which
makes the process runner stop the whole stack."""

import sys
import time
import urllib.request
from pathlib import Path

SERVICES = {"producer": 9101, "stream-processor": 9102, "lake-writer": 9103}
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


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0
    lake = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".tickflow/lake")
    started = time.time()
    time.sleep(3)
    while seconds <= 0 or time.time() - started < seconds:
        producer, processor, writer = (scrape(p) for p in SERVICES.values())
        rejections = {k.split('reason="')[1].split('"')[0]: int(v) for m in (producer, processor)
                      for k, v in m.items() if k.startswith("tickflow_rejections_total") and v > 0}
        files = len(list(lake.glob("*/date=*/symbol=*/*.parquet")))
        produced = total(producer, OUT % "raw_trades")
        enriched = total(processor, OUT % "enriched_trades")
        metrics = total(processor, OUT % "realtime_metrics")
        rows = total(writer, "tickflow_rows_written_total")
        gaps = total(producer, 'tickflow_events_total{name="feed_gap_sent"}')
        print(f"[{time.time() - started:5.0f}s] produced {produced} | enriched {enriched} | candles+anomalies {metrics}"
              f" | rejected {rejections or 'none'} | feed gaps {gaps} | lake rows {rows} in {files} files", flush=True)
        time.sleep(5)


if __name__ == "__main__":
    main()
