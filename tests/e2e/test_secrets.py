"""T11: every secret set to its own canary at once, the services logging at `trace`, and the
canaries looked for everywhere the pipeline writes.

The secrets: the Finnhub key (in the URL of every Finnhub connection) and a Binance key (a
header of every REST backfill), both checked by the exchange simulator; a SASL/SCRAM password
against a Kafka broker that takes only SCRAM-SHA-512 logins, so every service really
authenticates; the S3 secret key of the lake on s3s-fs; the query-api's bearer token. The run
has reconnects, REST backfills, an S3 outage and rejected records, so error paths log too.
Searched: every log line of every process of ours and of the broker, every /metrics text,
every record of every Kafka topic (values and headers), every object of the lake (Parquet data
and footers), every answer of the query-api. A wrong SASL password stops a service at once with
one line naming the cause."""

import secrets
import subprocess
import sys
import time

import duckdb
import requests
from confluent_kafka import Producer

from layers import publish, read_topic
from lake_check import refresh
from pipeline import REPO, Pipeline, binary, free_port, scrape, wait_for_port
from s3 import S3Server, httpfs_extension
from test_feed_gaps import wait_for_lines, wait_until_settled
from venues import Venues

sys.path.insert(0, str(REPO / "tests/analytics"))
from query_api import QueryApi  # noqa: E402

TRADES = 4_000
TOPICS = ["raw_trades", "enriched_trades", "realtime_metrics", "dead_letters"]


def canary(name):
    return f"canary-{name}-{secrets.token_hex(8)}"


def sasl(user, password):
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user, "sasl.password": password}


def kafka_properties(config):
    return ",".join(f"{k}={v}" for k, v in config.items())


def inject_bad_records(bootstrap, config, count=50):
    """Records the stream-processor must dead-letter (not JSON; an unknown kind), written with
    the SASL login as any client of the cluster would."""
    producer = Producer({"bootstrap.servers": bootstrap, **config})
    for i in range(count):
        producer.produce("raw_trades", key=b"BTC-USD", value=b"\xff\xfe not json %d" % i)
        producer.produce("raw_trades", key=b"BTC-USD", value=b"{}", headers=[("tickflow-kind", b"no_such_kind")])
    assert producer.flush(30) == 0, "the SASL client delivered every record"
    return 2 * count


def test_no_secret_reaches_a_log_metric_record_lake_object_or_answer(tmp_path):
    canaries = {name: canary(name) for name in ["finnhub", "binance", "sasl", "s3", "token"]}
    client = sasl("tickflow", canaries["sasl"])
    s3 = S3Server(tmp_path, secret_key=canaries["s3"])
    pipeline = Pipeline(tmp_path, lake_url=s3.url(), lake=s3.folder(), lake_env=s3.client_env(), env={
        "KAFKA_SCRAM_USER": "tickflow", "KAFKA_SCRAM_PASSWORD": canaries["sasl"],
        "KAFKA_PROPERTIES": kafka_properties(client), "RUST_LOG": "trace"})
    venues = Venues(tmp_path)
    simulator = venues.simulator(dict(pipeline.env, RUST_LOG="warn", EXCHANGE_SIM_FINNHUB_TOKEN=canaries["finnhub"]),
                                 TRADES, 1_000, "--disconnect-every", "400")
    producer = venues.producer(dict(pipeline.env, FINNHUB_API_KEY=canaries["finnhub"], BINANCE_API_KEY=canaries["binance"]),
                               "--feed-watchdog-ms", "2000", "--feed-backoff-max-ms", "200")
    api = QueryApi(s3.url(), tmp_path / "marts.duckdb", tmp_path, "--httpfs", str(httpfs_extension()),
                   env=dict(pipeline.env, **s3.client_env(), QUERY_API_TOKEN=canaries["token"]))
    answers, metrics = [], []
    try:
        s3.start()
        pipeline.start()
        simulator.start()
        wait_for_port(f"127.0.0.1:{venues.ports['finnhub_ws']}")
        producer.start()
        api.start()
        rejected = inject_bad_records(pipeline.bootstrap, client)
        # The object store goes away for a while: the lake-writer's errors and retries are logged.
        time.sleep(3)
        s3.kill()
        time.sleep(4)
        s3.start()
        wait_for_lines(venues.manifest, TRADES, timeout=120)
        time.sleep(3)
        metrics.append(scrape(venues.ports["producer"]))
        producer.stop()
        db = duckdb.connect()
        trades, _, dead_letters = wait_until_settled(pipeline, db)
        assert trades > TRADES // 2 and dead_letters >= rejected, "the SASL-authenticated pipeline worked end to end"
        refresh(db, pipeline.lake)
        assert db.execute("select count(*) from lake_trades where venue = 'finnhub'").fetchone()[0] > 0, \
            "the Finnhub client connected with its key"

        for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {canaries['token']}"}]:
            response = requests.get(f"{api.url}/v1/instruments", headers=headers, timeout=30)
            answers.append(f"{response.status_code} {response.headers} {response.text}")
        assert [a.split()[0] for a in answers] == ["401", "401", "200"], answers
        metrics += [scrape(port) for port in [*(s.port for s in pipeline.consumers()), api.port]]
        assert all(metrics), "every service answered /metrics"
        records = [(headers, value) for topic in TOPICS
                   for headers, value in read_topic(pipeline.bootstrap, topic, **client)]
    finally:
        api.stop()
        producer.stop()
        simulator.stop()
        pipeline.stop()
        s3.stop()

    ours = [pipeline.broker.log_path, producer.log_path, api.log_path,
            *(s.log_path for s in pipeline.consumers())]
    assert any(" TRACE " in path.read_text(errors="replace") for path in ours), "the services logged at trace"
    places = {str(path): path.read_bytes() for path in ours}
    places |= {f"/metrics {i}": text.encode() for i, text in enumerate(metrics)}
    places |= {f"answer {i}": text.encode() for i, text in enumerate(answers)}
    places["kafka records"] = b"\n".join(
        b" ".join([value or b"", *(k.encode() + b"=" + (v or b"") for k, v in headers.items())]) for headers, value in records)
    places |= {str(p): p.read_bytes() for p in s3.folder().rglob("*") if p.is_file()}
    assert len(records) > TRADES and any(p.endswith(".parquet") for p in places), "there was something to search"
    hits = [(name, where) for name, secret in canaries.items() for where, data in places.items()
            if secret.encode() in data or secret.encode().hex().encode() in data]
    publish("T11: every secret a canary, services at trace", [], secrets=len(canaries), places_searched=len(places),
            kafka_records=len(records), canary_hits=len(hits))
    assert hits == [], f"canaries found: {hits}"


def test_a_wrong_sasl_password_stops_a_service_at_once_with_one_line(tmp_path):
    good, wrong = canary("sasl"), canary("wrong")
    pipeline = Pipeline(tmp_path, env={"KAFKA_SCRAM_USER": "tickflow", "KAFKA_SCRAM_PASSWORD": good})
    try:
        pipeline.broker.start()
        wait_for_port(pipeline.bootstrap)
        for name in ["producer", "stream-processor", "lake-writer"]:
            env = dict(pipeline.env, RUST_LOG="trace", KAFKA_PROPERTIES=kafka_properties(sasl("tickflow", wrong)))
            started = time.monotonic()
            result = subprocess.run([binary(name), "--http-addr", f"127.0.0.1:{free_port()}",
                                     *(["--lake-url", str(tmp_path / "lake")] if name == "lake-writer" else [])],
                                    env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
            took = time.monotonic() - started
            last = result.stderr.strip().splitlines()[-1]
            assert result.returncode != 0, f"{name} kept running with a refused password"
            assert last.startswith(f"{name}: Kafka refused the credentials") and "SCRAM-SHA-512" in last, last
            assert took < 30, f"{name} took {took:.0f} s to give up: it retried"
            assert wrong not in result.stdout + result.stderr and good not in result.stdout + result.stderr
    finally:
        pipeline.broker.stop()

