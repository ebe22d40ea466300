"""A lake written by the real pipeline (Apache Kafka, producer, stream-processor, lake-writer) from the
end-to-end test's known market, for tests that read a lake: the analytics tests build their
marts on it, so the fixture can never drift from what the lake-writer writes."""

import sys
import time
from pathlib import Path

from generate import generate
from lake_check import connect, counts, expected_counts, refresh
from pipeline import Pipeline

TIMEOUT_S = 300


def wait_for_lake(pipeline, db, truth):
    """Until the lake holds at least what the truth expects and every consumer has read all there
    is (the stop that follows writes what the lake-writers still hold, so a duplicate would show).
    Returns an error message, or None."""
    target = expected_counts(db, truth)
    deadline = time.time() + TIMEOUT_S
    found = None
    while time.time() < deadline:
        refresh(db, pipeline.lake)
        found = counts(db)
        if all(f >= t for f, t in zip(found, target)):
            pipeline.wait_until_drained()
            return None
        for service in pipeline.consumers():
            if not service.alive():
                return f"{service.name} died:\n{service.tail()}"
        time.sleep(1)
    return f"the lake has {found}, expected {target} (trades, dead letters, final candles, feed gaps)\n{pipeline.logs()}"


def write_fixture_lake(directory, trades=20_000, faults_each=100):
    """Runs the pipeline over a generated market; returns (lake directory, truth)."""
    directory = Path(directory)
    market = directory / "market"
    market.mkdir(parents=True, exist_ok=True)
    truth = generate(market, trades=trades, faults_each=faults_each)
    pipeline = Pipeline(directory)
    # Batches of at most 2 000 records: many small files per folder, as a day of live data has.
    pipeline.lake_writer.command += ["--max-records", "2000"]
    try:
        pipeline.start()
        producer = pipeline.producer(market / "frames.jsonl", rate=0)
        producer.start()
        if producer.process.wait(TIMEOUT_S) != 0:
            raise RuntimeError(producer.tail())
        error = wait_for_lake(pipeline, connect(pipeline.lake, market / "truth.jsonl"), truth)
        if error:
            raise RuntimeError(error)
    finally:
        pipeline.stop()
    return pipeline.lake, truth


if __name__ == "__main__":
    lake, _ = write_fixture_lake(sys.argv[1], trades=int(sys.argv[2]) if len(sys.argv) > 2 else 20_000)
    print(lake)
