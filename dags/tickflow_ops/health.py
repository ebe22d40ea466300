"""The pipeline-health checks of one interval (the pipeline-health DAG, every 10 minutes), each a
row of the health table, and the verdict.

| check_name       | subject        | value                                                      | unhealthy when                      |
|------------------|----------------|------------------------------------------------------------|-------------------------------------|
| readiness        | each service   | HTTP status of its /readyz (0: no answer)                  | not 200                             |
| consumer_lag     | each group     | records between its committed offsets and the topics' ends | > TICKFLOW_HEALTH_MAX_LAG (50 000)  |
| lake_freshness   | lake           | seconds from the newest trades file to the interval's end  | > ..._MAX_LAKE_AGE_S (300)          |
| feed_gaps        | lake           | feed gaps the lake received in the interval                | > ..._MAX_FEED_GAPS (0)             |
| dead_letter_rate | lake           | dead letters / (trades + dead letters) received            | > ..._MAX_DEAD_LETTER_RATE (0.01)   |

Readiness and lag are observed when the check runs (they cannot be replayed for a past
interval). The lake's figures are by write time: rows of the lake files written in the interval
(read from the Parquet footers, so only their metadata is fetched), in the date partitions of
the interval's days and the TICKFLOW_HEALTH_LOOKBACK_DAYS (1) before. Files named `compacted-*`
hold rows counted when first written and are not counted again. Every check turns its own
failure (Kafka or the lake unreachable) into an unhealthy row rather than an exception.
"""

import os
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import requests

from tickflow_ops import settings
from tickflow_ops.lake_paths import open_input, parquet_writer_args, replace

DEFAULT_SERVICES = "producer=http://127.0.0.1:9101,stream-processor=http://127.0.0.1:9102," \
                   "lake-writer=http://127.0.0.1:9103,query-api=http://127.0.0.1:8000"
DEFAULT_GROUPS = {"PROCESSOR_GROUP_ID": ("tickflow-stream-processor", ("raw_trades",)),
                  "LAKE_WRITER_GROUP_ID": ("tickflow-lake-writer", ("enriched_trades", "realtime_metrics", "dead_letters"))}
THRESHOLDS = {"consumer_lag": ("TICKFLOW_HEALTH_MAX_LAG", 50_000), "lake_freshness": ("TICKFLOW_HEALTH_MAX_LAKE_AGE_S", 300),
              "feed_gaps": ("TICKFLOW_HEALTH_MAX_FEED_GAPS", 0), "dead_letter_rate": ("TICKFLOW_HEALTH_MAX_DEAD_LETTER_RATE", 0.01)}
SCHEMA = pa.schema([("checked_at", pa.timestamp("us", tz="UTC")), ("interval_start", pa.timestamp("us", tz="UTC")),
                    ("interval_end", pa.timestamp("us", tz="UTC")), ("check_name", pa.string()), ("subject", pa.string()),
                    ("value", pa.float64()), ("threshold", pa.float64()), ("healthy", pa.bool_()), ("detail", pa.string())])


class Unhealthy(RuntimeError):
    """At least one check failed; the message lists each one and why."""


@dataclass
class Check:
    check_name: str
    subject: str
    value: float | None
    threshold: float | None
    healthy: bool
    detail: str = ""


def threshold(check: str) -> float:
    variable, default = THRESHOLDS[check]
    return float(os.environ.get(variable) or default)


def _measured(check: str, subject: str, value: float, detail: str = "") -> Check:
    limit = threshold(check)
    return Check(check, subject, value, limit, value <= limit, detail)


def _failed(check: str, subject: str, error: Exception) -> Check:
    return Check(check, subject, None, None, False, f"{type(error).__name__}: {error}"[:500])


def services() -> dict[str, str]:
    """name -> base URL, from TICKFLOW_SERVICES ("name=url,...", as the dashboard reads it)."""
    configured = os.environ.get("TICKFLOW_SERVICES") or DEFAULT_SERVICES
    return dict(item.strip().split("=", 1) for item in configured.split(",") if "=" in item)


def readiness(targets: dict[str, str]) -> list[Check]:
    checks = []
    for name, url in targets.items():
        try:
            response = requests.get(f"{url.rstrip('/')}/readyz", timeout=5)
            checks.append(Check("readiness", name, response.status_code, 200, response.status_code == 200,
                                response.text.strip()[:200]))
        except requests.RequestException as error:
            checks.append(Check("readiness", name, 0, 200, False, f"no answer from {url}/readyz ({type(error).__name__})"))
    return checks


def kafka_config() -> dict:
    """The services' Kafka settings: KAFKA_BOOTSTRAP_SERVERS and KAFKA_PROPERTIES (key=value,...)."""
    config = {"bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")}
    for item in filter(None, (part.strip() for part in os.environ.get("KAFKA_PROPERTIES", "").split(","))):
        key, _, value = item.partition("=")
        config[key.strip()] = value.strip()
    return config


def consumer_lag() -> list[Check]:
    """Per consumer group: the sum over its input topics' partitions of (end offset, read
    committed) - (committed offset, or the partition's start when the group committed none)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    groups = {os.environ.get(variable) or group: topics for variable, (group, topics) in DEFAULT_GROUPS.items()}
    try:
        admin = AdminClient(kafka_config() | {"socket.timeout.ms": 10_000})
        metadata = admin.list_topics(timeout=10)
    except Exception as error:  # noqa: BLE001 - Kafka unreachable is an unhealthy row per group
        return [_failed("consumer_lag", group, error) for group in groups]
    checks = []
    for group, topics in groups.items():
        try:
            partitions = [TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)]
            committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, partitions)],
                                                          request_timeout=10)[group].result(timeout=15)
            ends = _offsets(admin, partitions, OffsetSpec.latest(), IsolationLevel.READ_COMMITTED)
            starts = _offsets(admin, partitions, OffsetSpec.earliest(), IsolationLevel.READ_COMMITTED)
            by_topic = {}
            for tp in committed.topic_partitions:
                key = (tp.topic, tp.partition)
                position = tp.offset if tp.offset >= 0 else starts[key]
                by_topic[tp.topic] = by_topic.get(tp.topic, 0) + max(ends[key] - position, 0)
            detail = ", ".join(f"{topic} {lag}" for topic, lag in sorted(by_topic.items()))
            checks.append(_measured("consumer_lag", group, float(sum(by_topic.values())), detail))
        except Exception as error:  # noqa: BLE001
            checks.append(_failed("consumer_lag", group, error))
    return checks


def _offsets(admin, partitions, spec, isolation) -> dict:
    answers = admin.list_offsets({tp: spec for tp in partitions}, isolation_level=isolation, request_timeout=10)
    return {(tp.topic, tp.partition): future.result(timeout=15).offset for tp, future in answers.items()}


def written_files(lake, table: str, start: datetime, end: datetime, lookback_days: int | None = None) -> list:
    """(path, write time) of the `table` files written in [start, end), compacted ones excepted."""
    days = int(os.environ.get("TICKFLOW_HEALTH_LOOKBACK_DAYS") or 1) if lookback_days is None else lookback_days
    first, last = start.date() - timedelta(days=days), end.date()
    found = []
    for day in (first + timedelta(days=n) for n in range((last - first).days + 1)):
        for path in (lake / table / f"date={day.isoformat()}").glob("symbol=*/*.parquet"):
            if path.name.startswith("compacted-"):
                continue
            written = datetime.fromtimestamp(path.stat().st_mtime_ns / 1e9, timezone.utc)
            if start <= written < end:
                found.append((path, written))
    return found


def rows_in(files) -> int:
    return sum(pq.ParquetFile(open_input(path)).metadata.num_rows for path, _ in files)


def lake_checks(lake, start: datetime, end: datetime, now: datetime) -> list[Check]:
    as_of = min(end, now)
    try:
        # One listing of the trades files serves both the interval's count and the freshness.
        since = min(start, as_of - timedelta(seconds=threshold("lake_freshness") + 3600))
        listed = written_files(lake, "trades", since, max(end, as_of))
        trades = [(path, written) for path, written in listed if start <= written < end]
        newest = max((written for _, written in listed if written < as_of), default=None)
        if newest:
            freshness = _measured("lake_freshness", "lake", (as_of - newest).total_seconds(),
                                  f"newest trades file written {newest.isoformat()}")
        else:
            freshness = Check("lake_freshness", "lake", None, threshold("lake_freshness"), False,
                              "no trades file written in the hour before")
        gaps = written_files(lake, "feed_gaps", start, end)
        gap_count = rows_in(gaps)
        gap_detail = ", ".join(sorted({path.parent.name.removeprefix("symbol=") for path, _ in gaps}))
        letters, accepted = rows_in(written_files(lake, "dead_letters", start, end)), rows_in(trades)
        rate = letters / (letters + accepted) if letters + accepted else 0.0
        return [freshness, _measured("feed_gaps", "lake", float(gap_count), gap_detail and f"instruments: {gap_detail}"),
                _measured("dead_letter_rate", "lake", rate, f"{letters} dead letters, {accepted} trades")]
    except Exception as error:  # noqa: BLE001 - an unreadable lake is unhealthy, not a crash
        return [_failed(name, "lake", error) for name in ("lake_freshness", "feed_gaps", "dead_letter_rate")]


def health_file(warehouse, start: datetime):
    return warehouse / "health" / f"date={start.date().isoformat()}" / f"health-{start.strftime('%H%M%S')}.parquet"


def record(checks: list[Check], start: datetime, end: datetime, checked_at: datetime, warehouse=None):
    """Writes the interval's rows to the health table (one file per interval, replaced when the
    interval is checked again); returns the file."""
    path = health_file(warehouse or settings.warehouse(), start)
    rows = [asdict(c) | {"checked_at": checked_at, "interval_start": start, "interval_end": end} for c in checks]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), **parquet_writer_args(temporary))
    replace(temporary, path)
    return path


def verdict(checks: list[Check]) -> None:
    """Raises Unhealthy naming every failed check, with its value, threshold and detail."""
    failed = [c for c in checks if not c.healthy]
    if failed:
        lines = "\n".join(f"  {c.check_name} {c.subject}: {_shown(c.value)} (threshold {_shown(c.threshold)}) {c.detail}".rstrip()
                          for c in failed)
        raise Unhealthy(f"{len(failed)} of {len(checks)} pipeline-health checks failed:\n{lines}")


def _shown(value) -> str:
    if value is None:
        return "unknown"
    return f"{value:.4f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"

