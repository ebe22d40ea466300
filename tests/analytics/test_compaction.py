"""Lake compaction on a copy of the real pipeline's lake, without Airflow: every row kept (count and
checksum, read by DuckDB), one file per folder, the lake-writer's resume files left alone, a second
run changes nothing, an interrupted run is finished, an open day and a bad merge change nothing."""

import shutil
from datetime import date, datetime, timezone

import pyarrow.dataset as ds
import pytest

from tickflow_ops import compaction

DAY = date(2023, 11, 14)  # the fixture market's day
LATER = datetime(2023, 11, 16, tzinfo=timezone.utc)


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
