"""Capture and replay through the whole pipeline: the producer records the frames (and reports of
missed trades) it receives; replaying the capture twice, each time into a fresh pipeline, lands
exactly the same trades (every column, receive times included) and feed gaps as the recorded run
did, and as each other."""

from pathlib import Path

from fixture_lake import TIMEOUT_S, wait_for_lake
from generate import generate
from lake_check import connect, gap_rows, refresh
from pipeline import Pipeline

COLUMNS = ("trade_key, venue, venue_symbol, instrument_id, trade_id, price, size, side, conditions, price_only, "
           "event_time_us, receive_time_us, session, trade_value, price_change, price_change_bps")


def lake_trades(directory, frames, market, truth, *producer_args):
    directory.mkdir()
    pipeline = Pipeline(directory)
    try:
        pipeline.start()
        producer = pipeline.producer(frames, rate=0)
        producer.command += list(producer_args)
        producer.start()
        assert producer.process.wait(TIMEOUT_S) == 0, producer.tail()
        db = connect(pipeline.lake, market / "truth.jsonl")
        error = wait_for_lake(pipeline, db, truth)
        assert error is None, error
        refresh(db, pipeline.lake)
        return db.execute(f"select {COLUMNS} from lake_trades order by trade_key").fetchall(), gap_rows(db)
    finally:
        pipeline.stop()


def test_two_replays_of_a_capture_land_the_recorded_trades(tmp_path):
    market = tmp_path / "market"
    market.mkdir()
    truth = generate(market, trades=5_000, faults_each=20)
    capture = tmp_path / "capture"
    recorded = lake_trades(tmp_path / "recorded", market / "frames.jsonl", market, truth,
                           "--capture-dir", str(capture), "--capture-rotate-mb", "1")
    files = sorted(Path(capture).iterdir())
    assert files and all(f.name.endswith(".jsonl.zst") for f in files), files
    first = lake_trades(tmp_path / "replay-1", capture, market, truth)
    second = lake_trades(tmp_path / "replay-2", capture, market, truth)
    assert len(recorded[0]) == len(truth.trades) and recorded[1] == sorted(truth.gaps)
    assert first == recorded
    assert second == first
