"""docker-compose.yml without a Docker engine: the file is validated and resolved by a real Compose
implementation (Debian's docker-compose, with .env.example as its .env), its conventions are
checked, and every tickflow service's command, environment and healthcheck are run on this
machine against a local stack: Apache Kafka on loopback for `kafka`, a real S3 server (s3s-fs)
for `minio`, each compose service name mapped to 127.0.0.1 and each container port to a free
one. A flag or a variable that a binary does not accept, a healthcheck that never passes, or a
setting that keeps trades from reaching the S3 lake fails here.

What this cannot show: that the images build, that the third-party images (Kafka, MinIO,
Airflow's Postgres, Prometheus, Grafana, kafka-ui) start with the settings given, and Airflow's
container itself (its DAGs run in tests/analytics; its dbt target on S3 in tests/e2e/test_s3_lake.py)."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
import requests
import yaml

from pipeline import REPO, Service, binary, free_port, wait_for_port
from s3 import S3Server, httpfs_extension, wait_until

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
# The services built from this repository, in the order their depends_on allows, and how each is
# run here (the image's binaries are the workspace's; the dashboard's Python is the tests').
TICKFLOW_SERVICES = ["exchange-sim", "stream-processor", "lake-writer", "producer", "query-api", "dashboard"]
THIRD_PARTY = ["kafka", "kafka-init", "minio", "minio-init", "airflow-db", "prometheus", "grafana", "kafka-ui"]
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")


@pytest.fixture(scope="module")
def compose_cli():
    subprocess.run(["bash", str(REPO / "scripts/debian-install.sh"), "/usr/bin/docker-compose", "docker-compose"], check=True)
    return "/usr/bin/docker-compose"


def compose_config(cli, env_file):
    result = subprocess.run([cli, "--file", str(COMPOSE_FILE), "--env-file", str(env_file), "config"],
                            capture_output=True, text=True, cwd=REPO, env={"PATH": os.environ["PATH"]})
    return result


@pytest.fixture(scope="module")
def resolved(compose_cli):
    """The compose file as the Compose implementation resolves it with .env.example."""
    result = compose_config(compose_cli, ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def raw_compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_example_names():
    return {line.lstrip("# ").split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
            if re.match(r"^#? ?[A-Z][A-Z0-9_]*=", line)}


def test_a_real_compose_implementation_accepts_the_file_and_demands_the_secrets(compose_cli, resolved, tmp_path):
    assert "version" not in raw_compose(), "the Compose specification has no version key"
    assert set(resolved["services"]) == set(TICKFLOW_SERVICES + THIRD_PARTY + ["airflow"])
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(compose_cli, empty)
    assert result.returncode != 0 and "set MINIO_ROOT_PASSWORD in .env" in result.stderr, \
        "without a .env the stack refuses to start instead of using a default password"


def test_every_service_is_pinned_checked_and_ordered(resolved):
    services = resolved["services"]
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and (not image.endswith(":latest") or "build" in service), f"{name}: pinned image, or built here"
        one_shot = name.endswith("-init")
        assert one_shot or "healthcheck" in service, f"{name} has a healthcheck"
        for dependency, rule in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency.endswith("-init") else "service_healthy"
            assert rule == {"condition": expected}, f"{name} waits for {dependency} by condition"
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            named = source in resolved.get("volumes", {})
            config = str(source).startswith(str(REPO / "ops")) or str(source).startswith(str(REPO / "dags"))
            assert named or config, f"{name}: data in named volumes, only configuration bind-mounted ({source})"
    for name in ("producer", "stream-processor", "lake-writer", "query-api"):
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"]), f"{name}'s healthcheck asks /readyz"


def test_no_secret_in_the_file_and_every_variable_in_env_example():
    text = COMPOSE_FILE.read_text()
    # Every secret-looking setting takes its value from the environment (.env), never a literal.
    for match in re.finditer(r"^\s*([A-Z][A-Z0-9_]*):\s*(.*)$", text, re.MULTILINE):
        name, value = match.groups()
        if SECRET.search(name) and not name.endswith("KEY_ID"):
            assert value.startswith("${"), f"{name} is set from .env, not in the file"
    assert re.search(r"postgresql\+psycopg2://airflow:\$\{AIRFLOW_DB_PASSWORD", text), "the DB password comes from .env"
    referenced = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    missing = referenced - env_example_names()
    assert not missing, f".env.example lists every variable docker-compose.yml reads: {sorted(missing)}"


def test_topic_init_and_prometheus_follow_the_declared_names(resolved):
    topics = [name for name in json.loads((REPO / "schemas/topics.json").read_text()) if not name.startswith("$")]
    init = " ".join(resolved["services"]["kafka-init"]["command"])
    assert re.search(r"for topic in ([a-z_ ]+); do", init).group(1).split() == topics
    prometheus = yaml.safe_load((REPO / "ops/prometheus/prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in prometheus["scrape_configs"]}
    for name in ("producer", "stream-processor", "lake-writer", "query-api"):
        port = targets[name].split(":")[1]
        listen = [v for k, v in resolved["services"][name]["environment"].items() if k.endswith("_ADDR")]
        assert listen == [f"0.0.0.0:{port}"], f"Prometheus scrapes {name} where it listens"


class LocalCompose:
    """Runs compose services on this machine: `service:port` and `0.0.0.0:port` become
    127.0.0.1 and a free port per (service, port); container paths become folders of `workdir`."""

    def __init__(self, resolved, workdir, kafka_port, s3):
        self.services, self.workdir = resolved["services"], workdir
        self.ports = {("kafka", "9092"): str(kafka_port), ("minio", "9000"): str(s3.port)}
        for name in TICKFLOW_SERVICES:
            service = self.services[name]
            declared = [str(p) for p in service.get("expose", [])] + [str(p["target"]) for p in service.get("ports", [])]
            for port in declared:
                self.ports[(name, port)] = str(free_port())
        self.paths = {"/data": workdir / "data", "/warehouse": workdir / "warehouse",
                      "/usr/share/tickflow/reference": REPO / "schemas/reference",
                      "/opt/duckdb/httpfs.duckdb_extension": httpfs_extension()}
        for folder in ("data", "warehouse"):
            (workdir / folder).mkdir(exist_ok=True)

    def translate(self, text, own):
        text = str(text)

        def host_port(match):
            host, port = match.group(1), match.group(2)
            service = own if host in ("0.0.0.0", "127.0.0.1", "localhost") else host
            mapped = self.ports.get((service, port))
            return f"127.0.0.1:{mapped}" if mapped else match.group(0)

        text = re.sub(r"([a-z][a-z0-9-]*|0\.0\.0\.0|127\.0\.0\.1):(\d+)", host_port, text)
        text = re.sub(r"/dev/tcp/127\.0\.0\.1/(\d+)", lambda m: f"/dev/tcp/127.0.0.1/{self.ports[(own, m.group(1))]}", text)
        text = re.sub(r"^(--[a-z.-]*(?:host|address))=0\.0\.0\.0$", r"\1=127.0.0.1", text)
        text = re.sub(r"^(--[a-z.-]*port)=(\d+)$", lambda m: f"{m.group(1)}={self.ports[(own, m.group(2))]}", text)
        for container, local in self.paths.items():
            if text.startswith(container) or f"={container}" in text:
                text = text.replace(container, str(local))
        return text

    def environment(self, name):
        env = {key: self.translate(value, name) for key, value in self.services[name].get("environment", {}).items()}
        env |= {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
                "TICKFLOW_REFERENCE_DIR": str(REPO / "schemas/reference")}  # the image's ENV (Dockerfile)
        return env

    def command(self, name):
        argv = [self.translate(arg, name) for arg in self.services[name]["command"]]
        if argv[0] == "streamlit":
            return [sys.executable, "-m", "streamlit", *argv[1:]]
        return [binary(argv[0]), *argv[1:]]

    def healthcheck(self, name):
        test = self.services[name]["healthcheck"]["test"]
        argv = [self.translate(arg, name) for arg in test[1:]]
        if test[0] == "CMD-SHELL":
            argv = ["bash", "-c", " ".join(argv)]
        if argv[0] == "python":
            argv[0] = sys.executable
        return argv

    def healthy(self, name):
        return subprocess.run(self.healthcheck(name), capture_output=True, timeout=10).returncode == 0


def test_the_compose_services_run_here_with_their_own_commands_and_environment(resolved, tmp_path):
    s3 = S3Server(tmp_path, bucket=resolved["services"]["minio-init"]["environment"]["LAKE_BUCKET"],
                  access_key=resolved["services"]["minio"]["environment"]["MINIO_ROOT_USER"],
                  secret_key=resolved["services"]["minio"]["environment"]["MINIO_ROOT_PASSWORD"])
    kafka_port = free_port()
    broker = Service("kafka", ["bash", str(REPO / "scripts/kafka.sh"), "broker", str(tmp_path / "kafka"), str(kafka_port)],
                     dict(os.environ), tmp_path)
    local = LocalCompose(resolved, tmp_path, kafka_port, s3)
    started = []
    try:
        s3.start()
        broker.start()
        wait_for_port(f"127.0.0.1:{kafka_port}")
        for name in TICKFLOW_SERVICES:
            service = Service(name, local.command(name), local.environment(name), tmp_path)
            service.process = subprocess.Popen(service.command, env=service.env, cwd=REPO, stdin=subprocess.DEVNULL,
                                               stdout=open(service.log_path, "a"), stderr=subprocess.STDOUT)
            started.append(service)
            wait_until(lambda: local.healthy(name) or not service.alive(), f"{name}'s healthcheck passes", timeout=120)
            assert service.alive(), f"{name} exited with its compose command and environment:\n{service.tail()}"

        lake = s3.folder("lake")
        wait_until(lambda: s3.objects("lake/trades"), "trades reach the S3 lake", timeout=120)
        api = f"http://127.0.0.1:{local.ports[('query-api', '8000')]}"
        instrument = s3.objects("lake/trades")[0].split("/")[1].split("=", 1)[1]

        def candles():
            answer = requests.get(f"{api}/v1/candles", params={"instrument": instrument, "interval": "1s"}, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()["candles"]
        assert wait_until(candles, "the query-api reads the lake's candles through S3", timeout=60)
        health = requests.get(f"http://127.0.0.1:{local.ports[('dashboard', '8501')]}/_stcore/health", timeout=10)
        assert health.status_code == 200
        assert lake.is_dir() and not list(lake.rglob("*.tmp"))
    finally:
        for service in reversed(started):
            if service.alive():
                service.process.send_signal(signal.SIGTERM)
                try:
                    service.process.wait(60)
                except subprocess.TimeoutExpired:
                    service.process.kill()
        broker.stop()
        s3.stop()
    logs = "\n".join(f"== {s.name}\n{s.tail()}" for s in started)
    assert [s.process.returncode for s in started] == [0] * len(started), f"every service stops cleanly on SIGTERM\n{logs}"
    combined = "\n".join(s.log_path.read_text(errors="replace") for s in started)
    assert s3.secret_key not in combined, "the S3 secret reaches no log"
