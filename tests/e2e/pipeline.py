"""Runs the real pipeline for a test: an Apache Kafka broker (scripts/kafka.sh: KRaft, one node,
its log in the test's folder) and the three services as separate processes, each with its own
log file."""

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

from service_metrics import metric_sum, scrape  # noqa: F401 (the tests import them from here)

REPO = Path(__file__).resolve().parents[2]


def free_port():
    """A free loopback port below the kernel's ephemeral range, and not handed out before. A port
    the kernel picks itself (bind to 0) is an ephemeral one, which any outgoing connection (a Kafka
    client's, say) may take as its own before the service that was meant to listen on it starts."""
    while True:
        port = _ports.randrange(20_000, min(_EPHEMERAL_LOW, 32_768))
        if port not in _handed_out and port_free(port):
            _handed_out.add(port)
            return port


def _ephemeral_low():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


_EPHEMERAL_LOW = _ephemeral_low()
_ports = random.Random()
_handed_out = set()


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
    """The broker and the consumer services: `processors` stream-processor and `lake_writers`
    lake-writer instances, each pair of kinds sharing its topics' partitions in a consumer group.
    The lake is a folder of `workdir`, or `lake_url` (e.g. s3://...) with the lake-writer's
    `lake_env`, read back from the folder `lake` (where an S3 test server keeps it). `env` is added
    to every process's environment (the broker's too)."""

    def __init__(self, workdir, processor_args=(), processors=1, lake_writers=1, lake_url=None, lake=None, lake_env=None,
                 env=None):
        self.workdir = Path(workdir)
        self.lake = Path(lake) if lake else self.workdir / "lake"
        self.lake_url = lake_url or str(self.lake)
        port = free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        self.env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, RUST_LOG="info", KAFKA_TOPIC_PARTITIONS="4")
        self.env.update(env or {})
        self.lake_env = dict(self.env, **(lake_env or {}))
        self.ports = {"producer": free_port()}
        self.processor_args = list(processor_args)
        self.broker = Service("kafka", ["bash", str(REPO / "scripts/kafka.sh"), "broker", str(self.workdir / "kafka"),
                                        str(port)], self.env, self.workdir)
        self.processors, self.lake_writers, self.retired = [], [], []
        for _ in range(processors):
            self.add_processor()
        for _ in range(lake_writers):
            self.add_lake_writer()

    @property
    def processor(self):
        return self.processors[0]

    @property
    def lake_writer(self):
        return self.lake_writers[0]

    def consumers(self):
        return self.processors + self.lake_writers

    def add_processor(self):
        """A new stream-processor instance (not started): a dynamic member of the group."""
        n = len(self.processors) + sum(s.name.startswith("stream-processor") for s in self.retired)
        service = self._consumer(f"stream-processor-{n}" if n else "stream-processor", [
            binary("stream-processor"), "--commit-interval", "200ms",
            *self.processor_args])
        self.processors.append(service)
        return service

    def add_lake_writer(self):
        """A new lake-writer instance (not started): a dynamic member of the group."""
        n = len(self.lake_writers) + sum(s.name.startswith("lake-writer") for s in self.retired)
        service = self._consumer(f"lake-writer-{n}" if n else "lake-writer", [
            binary("lake-writer"), "--lake-url", self.lake_url,
            "--flush-interval-ms", "1000"], self.lake_env)
        self.lake_writers.append(service)
        return service

    def _consumer(self, name, command, env=None):
        port = free_port()
        service = Service(name, [*command, "--http-addr", f"127.0.0.1:{port}"], env or self.env, self.workdir)
        service.port = port
        return service

    def retire(self, service):
        """SIGKILL, for good: the group has to move its partitions to the others."""
        service.kill()
        for kind in (self.processors, self.lake_writers):
            if service in kind:
                kind.remove(service)
        self.retired.append(service)

    def producer(self, frames, rate):
        return Service("producer", [
            binary("producer"), "--http-addr", f"127.0.0.1:{self.ports['producer']}", "--source", "replay",
            "--replay-file", str(frames), "--rate", str(rate)], self.env, self.workdir)

    def start(self):
        self.broker.start()
        wait_for_port(self.bootstrap)
        for service in self.consumers():
            service.start()

    def stop(self):
        for service in [*self.consumers(), self.broker]:
            service.stop()

    def logs(self):
        return "\n".join(f"== {s.name}\n{s.tail()}" for s in [self.broker, *self.consumers(), *self.retired])

    def wait_until_working(self, service, timeout=60):
        """Until `service` is ready and has consumed records since its last start."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if metric_sum(self.metrics(service), "tickflow_records_in_total") > 0:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{service.name} did not start working")

    def wait_until_drained(self, timeout=120):
        """Until every consumer has read everything upstream: each reports a consumer lag of 0,
        and their record counts did not move between two looks a lag measurement apart."""
        def progress():
            texts = [self.metrics(service) for service in self.consumers()]
            if not all(texts) or sum(metric_sum(t, "tickflow_consumer_lag") for t in texts) > 0:
                return None
            return tuple(metric_sum(t, "tickflow_records_in_total") + metric_sum(t, "tickflow_records_out_total")
                         for t in texts)
        wait_until_still(progress, f"the consumers drained\n{self.logs()}", timeout)

    def metrics(self, service):
        """The /metrics text of a consumer service, or of "producer"; empty when it does not answer."""
        return scrape(self.ports[service] if isinstance(service, str) else service.port)


def wait_until_still(read, what, timeout, period=1.2):
    """Until `read()` gives the same value, not None, on two looks `period` seconds apart (longer
    than the services take to measure their lag and publish their counters)."""
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        now = read()
        if now is not None and now == last:
            return now
        last = now
        time.sleep(period)
    raise TimeoutError(f"timed out waiting until {what}")


def wait_for_port(address, timeout=60):
    host, port = address.split(":")
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, int(port))) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {address}")
