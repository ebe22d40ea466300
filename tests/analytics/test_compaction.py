"""Lake compaction on a copy of the real pipeline's lake, without Airflow: every row kept (count and
checksum, read by DuckDB), one file per folder, the lake-writer's resume files left alone, a second
run changes nothing, an interrupted run is finished, an open day and a bad merge change nothing;
the open day's roll-up by write time keeps every row and every file a reader picks by write time."""

import os
import shutil
from datetime import date, datetime, timedelta, timezone

import duckdb
import pyarrow.dataset as ds
import pytest

from tickflow_ops import compaction

DAY = date(2023, 11, 14)  # the fixture market's day
LATER = datetime(2023, 11, 16, tzinfo=timezone.utc)
WINDOWS_FROM = datetime(2023, 11, 14, 22, 30, tzinfo=timezone.utc)  # the roll-up test's write times


@pytest.fixture
def lake_copy(lake, tmp_path):
    return shutil.copytree(lake[0], tmp_path / "lake")


def data_files(lake):
    """The day's files of the tables the lake-writer writes (dead letters are dated by when they
    were rejected: not this day)."""
    return sorted(path for table in compaction.TABLES
                  for path in lake.glob(f"{table}/date={DAY.isoformat()}/symbol=*/*.parquet"))


def fingerprints(lake):
    return {table: compaction.fingerprint(sorted((lake / table).glob("*/*/*.parquet"))) for table in compaction.TABLES}


def test_a_closed_day_becomes_one_file_per_folder_with_every_row_kept(lake_copy):
    before, files_before = fingerprints(lake_copy), data_files(lake_copy)
    arrow_rows = ds.dataset(lake_copy / "trades", format="parquet", partitioning="hive").count_rows()
    in_flight = compaction.in_flight_files(lake_copy)

    report = compaction.compact_day(lake_copy, DAY, now=LATER)

    after = data_files(lake_copy)
    assert fingerprints(lake_copy) == before and before["trades"].rows > 0
    assert ds.dataset(lake_copy / "trades", format="parquet", partitioning="hive").count_rows() == arrow_rows
    assert report.folders > 0 and report.files_before == len(files_before) and report.files_after == len(after)
    assert len(after) < len(files_before)
    assert in_flight and all(path.exists() for path in in_flight)
    for folder in {path.parent for path in after}:
        assert len([p for p in folder.glob("*.parquet") if p not in in_flight]) <= 1, folder
    assert not list(lake_copy.rglob("*.tmp"))

    again = compaction.compact_day(lake_copy, DAY, now=LATER)
    assert again.folders == 0 and data_files(lake_copy) == after and fingerprints(lake_copy) == before


def test_an_interrupted_compaction_is_finished_by_the_next_run(lake_copy, tmp_path):
    before = fingerprints(lake_copy)
    in_flight = compaction.in_flight_files(lake_copy)
    folder = max({p.parent for p in data_files(lake_copy)},
                 key=lambda f: len([p for p in f.glob("*.parquet") if p not in in_flight]))
    inputs = [p for p in sorted(folder.glob("*.parquet")) if p not in in_flight]
    saved = tmp_path / "saved"
    saved.mkdir()
    for path in inputs:
        shutil.copy2(path, saved / path.name)
    compaction.compact_day(lake_copy, DAY, now=LATER)
    for path in inputs:  # as if the run had stopped after the rename, before deleting its inputs
        shutil.copy2(saved / path.name, path)
    assert fingerprints(lake_copy) != before

    report = compaction.compact_day(lake_copy, DAY, now=LATER)
    assert report.finished_interrupted == len(inputs) > 1
    assert fingerprints(lake_copy) == before


def test_a_day_that_is_not_closed_is_left_alone(lake_copy):
    files = data_files(lake_copy)
    with pytest.raises(compaction.CompactionError, match="not closed"):
        compaction.compact_day(lake_copy, DAY, now=datetime(2023, 11, 15, 0, 30, tzinfo=timezone.utc))
    assert data_files(lake_copy) == files


def test_a_merge_that_would_change_the_rows_changes_nothing(lake_copy, monkeypatch):
    files, real = data_files(lake_copy), compaction.fingerprint
    monkeypatch.setattr(compaction, "fingerprint", lambda paths: compaction.Fingerprint(0, 0)
                        if paths and paths[0].name.endswith(".tmp") else real(paths))
    with pytest.raises(compaction.CompactionError, match="differ"):
        compaction.compact_day(lake_copy, DAY, now=LATER)
    assert data_files(lake_copy) == files and not list(lake_copy.rglob("*.tmp"))


def written_since(lake, since, table="trades"):
    """Trade keys in the files of `table` modified at or after `since` (how the query-api picks them)."""
    files = [str(p) for p in lake.glob(f"{table}/date=*/symbol=*/*.parquet") if p.stat().st_mtime >= since.timestamp()]
    if not files:
        return set()
    with duckdb.connect() as db:
        return {key for (key,) in db.execute("select trade_key from read_parquet($1)", [files]).fetchall()}


def test_the_open_day_is_rolled_up_by_write_time_keeping_every_row(lake_copy):
    # The day's files as if written over three 10-minute windows, 22:30 to 23:00; at 22:55 the
    # first two have ended (and settled for a minute), the third is still being written.
    # Per folder: the last of three or more files in the open window, the others split between the two closed ones.
    in_flight = compaction.in_flight_files(lake_copy)
    for folder in {path.parent for path in data_files(lake_copy)}:
        files = sorted(folder.glob("*.parquet"))
        for j, path in enumerate(files):
            w = 0 if len(files) <= 2 else 2 if j == len(files) - 1 else 2 * j // (len(files) - 1)
            at = WINDOWS_FROM.timestamp() + w * 600 + j
            os.utime(path, (at, at))
    written = {path: path.stat().st_mtime_ns for path in data_files(lake_copy)}
    window = {path: int((ns / 1e9 - WINDOWS_FROM.timestamp()) // 600) for path, ns in written.items()}
    before, cut = fingerprints(lake_copy), WINDOWS_FROM + timedelta(minutes=15)
    readers_before = written_since(lake_copy, cut)
    now = WINDOWS_FROM + timedelta(minutes=25)

    [report] = [r for r in compaction.roll_up(lake_copy, now) if r.day == DAY]

    assert fingerprints(lake_copy) == before and before["trades"].rows > 0
    assert report.folders > 0 and report.files_after == len(data_files(lake_copy)) < report.files_before
    assert all(path.exists() for path in in_flight)
    still_open = [path for path, w in window.items() if w == 2]
    assert still_open and all(path.exists() for path in still_open), "the window being written is left alone"
    for folder in {path.parent for path in window}:
        for w in (0, 1):
            inputs = [p for p, pw in window.items() if pw == w and p.parent == folder and p not in in_flight]
            merged = [p for p in folder.glob("compacted-*.parquet")
                      if int((p.stat().st_mtime - WINDOWS_FROM.timestamp()) // 600) == w]
            if len(inputs) > 1:
                assert len(merged) == 1 and not any(p.exists() for p in inputs), (folder, w)
                assert merged[0].stat().st_mtime_ns == max(written[p] for p in inputs), "keeps the newest write time"
    assert readers_before and readers_before <= written_since(lake_copy, cut), \
        "a reader picking files by write time misses nothing"

    again = compaction.roll_up(lake_copy, now)
    assert sum(r.folders for r in again) == 0 and fingerprints(lake_copy) == before


def test_merged_files_hold_few_large_row_groups(lake_copy):
    import pyarrow.parquet as pq

    compaction.compact_day(lake_copy, DAY, now=LATER)
    merged = list(lake_copy.glob("*/date=*/symbol=*/compacted-*.parquet"))
    assert merged
    for path in merged:
        metadata = pq.ParquetFile(path).metadata
        assert metadata.num_row_groups == -(-metadata.num_rows // compaction.ROW_GROUP_ROWS), path
