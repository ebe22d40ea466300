"""Compaction of the lake: in each `<table>/date=<day>/symbol=<s>/` folder, the lake-writer's
many small files become fewer, with the same rows.

- A closed day (the day plus a grace period for late data has passed) becomes one file per
  folder (`compact_day`, the daily DAG).
- The days still open are rolled up by write time (`roll_up`, before each marts build of the
  local stack): the files written in each closed window (10 minutes by default) become one,
  which keeps the newest write time of its inputs, so readers that pick files by write time
  (the query-api reads only the files written since the marts' end) see the same rows as before.
  A day of the demo's 20 files a second thus stays at a few thousand files, not a million.

Both are safe next to a running pipeline and idempotent:
- The files of each topic partition's newest batch marker are left alone: the lake-writer may
  still replay that batch after a restart, and it must find the files it wrote.
- The merged file is named after its inputs and records them in its key-value metadata
  (`tickflow.compacted_from`). It is written under a name readers ignore, checked (row count and a
  checksum of every row equal the inputs'), renamed into place, and only then are the inputs
  deleted. A run interrupted between the rename and the deletes is finished by the next run,
  which deletes inputs that a compacted file already holds. Until then a reader would count
  those rows twice; the marts' deduplication removes them.
- A folder already down to one file is left as it is, so a second run changes nothing.

`compact_day` works on a lake on local disk or in S3 (`s3://bucket/prefix`, through
tickflow_ops.lake_paths: there the rename into place is a server-side copy, then a delete).
`roll_up` needs a local lake: it keeps write times, which S3 objects cannot be given.
"""

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tickflow_ops.lake_paths import S3Path, lake_path, open_input, parquet_writer_args, set_write_time

TABLES = ("trades", "candles", "anomalies", "dead_letters", "feed_gaps")
COMPACTED_FROM = b"tickflow.compacted_from"
ROW_GROUP_ROWS = 122_880  # DuckDB's own row group size


class CompactionError(RuntimeError):
    pass


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    checksum: int  # sum of a hash of every row's values, by column name


@dataclass
class Report:
    day: date
    folders: int = 0
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    finished_interrupted: int = 0
    kept_in_flight: list = field(default_factory=list)


def fingerprint(files: list) -> Fingerprint:
    """Rows and checksum of Parquet files, read by pyarrow and hashed by DuckDB (columns missing in
    a file are null)."""
    if not files:
        return Fingerprint(0, 0)
    tables = [pq.ParquetFile(open_input(f)).read() for f in files]
    rows_read = pa.concat_tables([t.replace_schema_metadata() for t in tables], promote_options="permissive")
    with duckdb.connect() as db:
        db.register("rows_read", rows_read)
        values = ", ".join(f'"{c}"' for c in sorted(rows_read.column_names))
        rows, checksum = db.execute(f"select count(*), coalesce(sum(hash({values})), 0) from rows_read").fetchone()
    return Fingerprint(rows, int(checksum))


def closed(day: date, now: datetime, grace: timedelta) -> bool:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc) + grace <= now


def in_flight_files(lake) -> set:
    """The files of each topic partition's newest batch marker (`_progress/<topic>/<partition>/`)."""
    files = set()
    for partition in (p for topic in (lake / "_progress").glob("*") for p in topic.glob("*")):
        markers = sorted(partition.glob("*.json"))
        if markers:
            files |= {lake / name for name in json.loads(markers[-1].read_text())["files"]}
    return files


def compacted_inputs(path) -> list[str]:
    metadata = pq.read_schema(open_input(path)).metadata or {}
    return json.loads(metadata.get(COMPACTED_FROM, b"[]"))


def finish_interrupted(folder) -> int:
    """Deletes inputs that a compacted file in `folder` already holds; returns how many."""
    deleted = 0
    for compacted in folder.glob("compacted-*.parquet"):
        for name in compacted_inputs(compacted):
            if (folder / name).exists():
                (folder / name).unlink()
                deleted += 1
    return deleted


def merge(folder, inputs: list, keep_write_time: bool = False) -> Fingerprint:
    """Replaces `inputs` by one file in `folder` holding their rows, in order; returns their
    fingerprint. With `keep_write_time`, the file's modification time is the inputs' newest."""
    names = [p.name for p in inputs]
    output = folder / f"compacted-{hashlib.sha256(json.dumps(names).encode()).hexdigest()[:16]}.parquet"
    temporary = folder / f".{output.name}.tmp"
    schema = pa.unify_schemas([pq.read_schema(open_input(p)).remove_metadata() for p in inputs])
    schema = schema.with_metadata({COMPACTED_FROM: json.dumps(names).encode()})
    with pq.ParquetWriter(schema=schema, compression="zstd", **parquet_writer_args(temporary)) as writer:
        # Inputs are gathered into row groups of ROW_GROUP_ROWS: a row group per small input
        # would make every reader pay per group (DuckDB reads such a file 15x slower).
        pending, rows = [], 0
        for path in inputs:
            table = pq.ParquetFile(open_input(path)).read()
            arrays = [table.column(f.name) if f.name in table.column_names else pa.nulls(len(table), f.type)
                      for f in schema]
            pending.append(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(table)
            if rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.concat_tables(pending).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
                pending, rows = [], 0
        if pending:
            writer.write_table(pa.concat_tables(pending).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
    expected, found = fingerprint(inputs), fingerprint([temporary])
    if expected != found:
        temporary.unlink()
        raise CompactionError(f"{folder}: merged rows differ from the inputs ({found} != {expected}); nothing changed")
    if keep_write_time:
        set_write_time(temporary, max(path.stat().st_mtime_ns for path in inputs))
    temporary.rename(output)
    for path in inputs:
        path.unlink()
    return expected


def day_folders(lake, day: date, tables: tuple) -> list:
    """Every `<table>/date=<day>/symbol=<s>/` folder of `tables`."""
    return [folder for table in tables for folder in sorted((lake / table / f"date={day.isoformat()}").glob("symbol=*"))]


def compact_day(lake, day: date, now: datetime, grace: timedelta = timedelta(hours=1),
                tables: tuple = TABLES) -> Report:
    """Compacts every folder of `day` in `lake` (a folder, or a lake URL: s3://bucket/prefix);
    refuses a day that is not closed yet."""
    lake = lake if isinstance(lake, (Path, S3Path)) else lake_path(lake)
    if not closed(day, now, grace):
        raise CompactionError(f"{day} is not closed yet (late data may still arrive until {grace} after midnight)")
    report = Report(day)
    in_flight = in_flight_files(lake)
    for folder in day_folders(lake, day, tables):
        report.finished_interrupted += finish_interrupted(folder)
        files = sorted(folder.glob("*.parquet"))
        kept = [p for p in files if p in in_flight]
        inputs = [p for p in files if p not in in_flight]
        report.kept_in_flight += [str(p.relative_to(lake)) for p in kept]
        report.files_before += len(files)
        if len(inputs) > 1:
            report.rows += merge(folder, inputs).rows
            report.folders += 1
        report.files_after += len(kept) + min(len(inputs), 1)
    return report


def open_days(lake, now: datetime, grace: timedelta = timedelta(hours=1), tables: tuple = TABLES) -> list[date]:
    """The days in the lake that are not closed yet."""
    days = {date.fromisoformat(folder.name.split("=", 1)[1]) for table in tables
            for folder in (lake / table).glob("date=*")}
    return sorted(day for day in days if not closed(day, now, grace))


def roll_up(lake: Path, now: datetime, window: timedelta = timedelta(minutes=10), settle: timedelta = timedelta(minutes=1),
            grace: timedelta = timedelta(hours=1), tables: tuple = TABLES) -> list[Report]:
    """Per open day and folder, merges the files written in each window of `window` that ended at
    least `settle` ago (the lake-writer's in-flight files excepted) into one that keeps their
    newest write time. One report per open day."""
    if not isinstance(lake, Path):
        raise CompactionError(f"the roll-up needs a lake on local disk ({lake}): S3 objects keep their own write times")
    in_flight = in_flight_files(lake)
    width_ns, now_ns, settle_ns = int(window.total_seconds() * 1e9), int(now.timestamp() * 1e9), int(settle.total_seconds() * 1e9)
    reports = []
    for day in open_days(lake, now, grace, tables):
        report = Report(day)
        for folder in day_folders(lake, day, tables):
            report.finished_interrupted += finish_interrupted(folder)
            files = sorted(folder.glob("*.parquet"))
            report.files_before += len(files)
            windows: dict[int, list[Path]] = {}
            for path in files:
                if path in in_flight:
                    report.kept_in_flight.append(str(path.relative_to(lake)))
                    continue
                windows.setdefault(path.stat().st_mtime_ns // width_ns, []).append(path)
            for start, inputs in sorted(windows.items()):
                if len(inputs) > 1 and (start + 1) * width_ns + settle_ns <= now_ns:
                    report.rows += merge(folder, inputs, keep_write_time=True).rows
                    report.folders += 1
                    report.files_after -= len(inputs) - 1
            report.files_after += len(files)
        reports.append(report)
    return reports


def main():
    parser = argparse.ArgumentParser(description="Rolls up the lake's open days by write time (see this module's doc).")
    parser.add_argument("--lake", required=True, type=Path, help="the lake's folder")
    parser.add_argument("--window-minutes", type=float, default=10, help="files written in one such window become one")
    parser.add_argument("--settle-minutes", type=float, default=1, help="how long after its end a window is rolled up")
    args = parser.parse_args()
    if not args.lake.is_dir():
        return
    started = datetime.now(timezone.utc)
    for report in roll_up(args.lake, started, timedelta(minutes=args.window_minutes), timedelta(minutes=args.settle_minutes)):
        elapsed = (datetime.now(timezone.utc) - started).total_seconds()
        print(f"roll-up {report.day}: {report.files_before} files -> {report.files_after} "
              f"({report.folders} windows merged, {report.rows} rows) in {elapsed:.1f} s", flush=True)


if __name__ == "__main__":
    main()
