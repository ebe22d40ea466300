"""Runs the real pipeline for a test: an Apache Kafka broker (scripts/kafka.sh: KRaft, one node,
its log in the test's folder) and the three services as separate processes, each with its own
log file."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name):
    directory = Path(os.environ.get("TICKFLOW_BIN_DIR", REPO / "target/debug"))
    path = directory / name
    assert path.exists(), f"{path} is missing: build the workspace first (make test does)"
    return str(path)


class Service:
    def __init__(self, name, command, env, log_dir):
        self.name, self.command, self.env = name, command, env
        self.log_path = Path(log_dir) / f"{name}.log"
        self.process = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"--- start {self.starts}\n")
        log.flush()
        self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self):
        """SIGKILL: no chance to flush or commit anything."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout=30):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def tail(self, lines=30):
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Pipeline:
    def __init__(self, workdir, processor_args=()):
        self.workdir = Path(workdir)
        self.lake = self.workdir / "lake"
        port = free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, RUST_LOG="info", KAFKA_TOPIC_PARTITIONS="4")
        self.ports = {name: free_port() for name in ["producer", "processor", "lake_writer"]}
        self.broker = Service("kafka", ["bash", str(REPO / "scripts/kafka.sh"), "broker", str(self.workdir / "kafka"),
                                        str(port)], env, self.workdir)
        self.processor = Service("stream-processor", [
            binary("stream-processor"), "--http-addr", f"127.0.0.1:{self.ports['processor']}",
            "--instance-id", "processor-0", "--commit-interval", "200ms", *processor_args], env, self.workdir)
        self.lake_writer = Service("lake-writer", [
            binary("lake-writer"), "--http-addr", f"127.0.0.1:{self.ports['lake_writer']}",
            "--instance-id", "lake-writer-0", "--lake-url", str(self.lake), "--flush-interval-ms", "1000"], env, self.workdir)
        self.env = env

    def producer(self, frames, rate):
        return Service("producer", [
            binary("producer"), "--http-addr", f"127.0.0.1:{self.ports['producer']}", "--source", "replay",
            "--replay-file", str(frames), "--rate", str(rate)], self.env, self.workdir)

    def start(self):
        self.broker.start()
        wait_for_port(self.bootstrap)
        self.processor.start()
        self.lake_writer.start()

    def stop(self):
        for service in [self.processor, self.lake_writer, self.broker]:
            service.stop()

    def logs(self):
        return "\n".join(f"== {s.name}\n{s.tail()}" for s in [self.broker, self.processor, self.lake_writer])

    def wait_until_working(self, service, timeout=60):
        """Until `service` is ready and has consumed records since its last start."""
        port = self.ports["processor" if service is self.processor else "lake_writer"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
                consumed = sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("tickflow_records_in_total"))
                if consumed > 0:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{service.name} did not start working")

    def metrics(self, service):
        url = f"http://127.0.0.1:{self.ports[service]}/metrics"
        try:
            return urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            return ""


def wait_for_port(address, timeout=60):
    host, port = address.split(":")
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, int(port))) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {address}")
