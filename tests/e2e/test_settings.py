"""Every binary as a new user meets it: settings that cannot work fail at once with one line
naming the cause (each cause once), even with no Kafka anywhere; a stop while a service waits for
Kafka is immediate and quiet; `--help` describes every flag."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from pipeline import binary, free_port

BINARIES = ["producer", "stream-processor", "lake-writer", "exchange-sim", "query-api"]


def no_kafka_env(**extra):
    # Nothing listens on this port: a service that waits for Kafka waits forever.
    return dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}", **{"RUST_LOG": "warn", **extra})


def fails_at_once(command, env):
    """Runs a binary that must refuse its settings; returns its one line of stderr. The time-out
    only keeps a binary that waits for Kafka instead from hanging the suite."""
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as waited:
        pytest.fail(f"{command[0]} did not fail; it waited: {(waited.stderr or b'')[-500:]!r}")
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip() and " WARN " not in line]
    assert len(lines) == 1, result.stderr
    causes = lines[0].split(": ")
    assert len(causes) == len(set(causes)), f"a cause is repeated: {lines[0]}"
    return lines[0]


@pytest.mark.parametrize("extra, env, expected", [
    (["--source", "finnhub"], {"FINNHUB_API_KEY": ""}, "needs an API key in FINNHUB_API_KEY"),
    (["--source", "finnhub", "--finnhub-symbols", ",".join(f"S{n}" for n in range(51))], {"FINNHUB_API_KEY": "k"},
     "about 50 symbols per API key; 51 were asked for"),
    (["--source", "replay"], {}, "--source replay needs --replay-file"),
    (["--source", "replay", "--replay-file", "/nonexistent/capture.jsonl.zst"], {}, "/nonexistent/capture.jsonl.zst"),
    (["--source", "binance", "--feed-ca-file", "/nonexistent/ca.pem"], {}, "/nonexistent/ca.pem"),
])
def test_the_producer_refuses_what_cannot_work_before_waiting_for_kafka(extra, env, expected, tmp_path):
    line = fails_at_once([binary("producer"), "--http-addr", f"127.0.0.1:{free_port()}", *extra], no_kafka_env(**env))
    assert expected in line and line.startswith("producer: "), line


def test_the_lake_writer_and_processor_refuse_what_cannot_work_before_waiting_for_kafka(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = fails_at_once([binary("lake-writer"), "--http-addr", f"127.0.0.1:{free_port()}",
                          "--lake-url", str(blocker / "lake")], no_kafka_env())
    assert str(blocker) in line, line
    line = fails_at_once([binary("stream-processor"), "--http-addr", f"127.0.0.1:{free_port()}",
                          "--windows", "0s"], no_kafka_env())
    assert "window" in line, line


def test_the_query_api_refuses_marts_it_cannot_open_and_a_port_in_use(tmp_path):
    marts = tmp_path / "marts.duckdb"
    marts.write_text("not a DuckDB database")
    line = fails_at_once([binary("query-api"), "--addr", f"127.0.0.1:{free_port()}", "--marts", str(marts),
                          "--lake-url", str(tmp_path / "lake"), "--no-live"], no_kafka_env())
    assert line.startswith("query-api: ") and str(marts) in line, line
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = fails_at_once([binary("query-api"), "--addr", f"127.0.0.1:{port}", "--marts", str(tmp_path / "none.duckdb"),
                              "--lake-url", str(tmp_path / "lake"), "--no-live"], no_kafka_env())
    assert f"cannot listen on 127.0.0.1:{port}" in line, line


@pytest.mark.parametrize("name", ["producer", "stream-processor", "lake-writer"])
def test_a_stop_while_waiting_for_kafka_is_immediate_and_quiet(name, tmp_path):
    command = [binary(name), "--http-addr", f"127.0.0.1:{free_port()}"]
    if name == "lake-writer":
        command += ["--lake-url", str(tmp_path / "lake")]
    process = subprocess.Popen(command, env=no_kafka_env(RUST_LOG="info"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, cwd=tmp_path)
    try:
        log = ""
        while "Kafka not ready" not in log:
            line = process.stderr.readline()  # the logs; ends when the process does
            if not line:
                break
            log += line
        assert "Kafka not ready" in log, log
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=5)  # a guard against a hang, not a timing claim
    finally:
        process.kill()
    assert process.returncode == 0, rest
    errors = [line for line in rest.splitlines() if line.startswith(f"{name}:") or "Timed out" in line]
    assert errors == [], f"a stop is not an error: {errors}"


@pytest.mark.parametrize("name", BINARIES)
def test_help_describes_every_flag(name):
    text = subprocess.run([binary(name), "--help"], capture_output=True, text=True, check=True).stdout
    assert "Flags every service takes" not in text.splitlines()[0], "the binary says what it is"
    flags = re.findall(r"^ {2,6}(?:-\w, )?(--[\w-]+)[^\n]*\n((?: {10}[^\n]*\n)*)", text, re.M)
    assert flags, text
    undescribed = [flag for flag, description in flags
                   if flag not in ("--help", "--version") and not re.search(r"\w", re.sub(r"\[[^\]]*\]", "", description))]
    assert undescribed == [], f"{name}: flags without a description: {undescribed}"


def test_the_producers_help_names_every_source():
    text = subprocess.run([binary("producer"), "--help"], capture_output=True, text=True, check=True).stdout
    source = text[text.index("--source"):].split("\n      --")[0]
    for kind in ["synthetic", "replay", "binance", "coinbase", "finnhub"]:
        assert kind in source.split("Possible values")[0], source
