"""Runs the local stack and stops it in order, so that nothing in flight is lost.

Start: the broker (until it answers), the exchange simulator (when it is the feed), the
stream-processor, the lake-writer, the producer, then the read side: the query-api, the
dashboard and a lake roll-up and marts build every --marts-every seconds (scripts/roll-up.sh and
scripts/marts.sh, in the background), and with --prometheus-port Prometheus scraping every service
with the alert rules of ops/prometheus/rules. Every process runs in its own session,
so a Ctrl-C in the terminal reaches this supervisor only; each is sent SIGTERM if the supervisor
dies without stopping it.

Stop (Ctrl-C, SIGTERM, or after --seconds): the read side first, then the producer (it hands on what it received
and reports the gaps still open), then the simulator; the stream-processor once it has read
everything in raw_trades, the lake-writer once it has read everything the stream-processor
wrote (each writes out and commits what it holds when it stops), and the broker last. A second
Ctrl-C stops everything at once. If a service dies on its own, the others are stopped in the
same order and the exit status says so.
"""

import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import progress
import service_metrics

DRAIN_TIMEOUT_S = 120
PR_SET_PDEATHSIG = 1


def terminate_with_parent():
    """In a started child: SIGTERM when this supervisor dies, even by SIGKILL (Linux'
    PR_SET_PDEATHSIG), so that no service outlives the stack it belongs to."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Process:
    def __init__(self, name, argv, log_path, metrics_port=None):
        self.name, self.argv, self.log_path, self.metrics_port = name, argv, Path(log_path), metrics_port
        self.process = None

    def start(self, env):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(self.argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=terminate_with_parent)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout):
        if not self.running():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"tickflow: {self.name} did not stop within {timeout:.0f} s; killing it", flush=True)
            self.process.kill()
            self.process.wait()

    def tail(self, lines=15):
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Stop(Exception):
    pass


def wait_for_port(port, processes, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        check_alive(processes)
        time.sleep(0.2)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port} after {timeout} s")


def check_alive(processes):
    for p in processes:
        if p.process is not None and not p.running():
            raise RuntimeError(f"{p.name} exited with status {p.process.returncode}; its log ends:\n{p.tail()}")


def wait_until_drained(process, topics):
    """Until `process` reports no consumer lag on `topics` twice in a row (its lag is measured
    about once a second), or DRAIN_TIMEOUT_S."""
    deadline = time.time() + DRAIN_TIMEOUT_S
    zero_since = None
    while time.time() < deadline and process.running():
        text = service_metrics.scrape(process.metrics_port)
        lag = service_metrics.metric_sum(text, "tickflow_consumer_lag", topic=tuple(topics))
        if text and lag == 0:
            if zero_since is not None and time.time() - zero_since >= 1.5:
                return True
            zero_since = zero_since or time.time()
        else:
            zero_since = None
        time.sleep(0.3)
    return False


class MartsSchedule:
    """Every `every_s` seconds, one at a time, logged to logs/marts.log: scripts/roll-up.sh (the
    lake's closed 10-minute windows become one file per folder, so neither dbt nor the query-api
    reads a day of small files), then scripts/marts.sh."""

    def __init__(self, root, data, every_s):
        self.root, self.every_s, self.log_path = root, every_s, data / "logs" / "marts.log"
        self.env = dict(os.environ, TICKFLOW_DATA=str(data), LAKE_URL=str(data / "lake"),
                        TICKFLOW_WAREHOUSE=str(data / "warehouse"))
        self.process, self.next_at, self.builds = None, time.time() + 10, 0

    def tick(self):
        if self.process is not None and self.process.poll() is not None:
            self.builds += self.process.returncode == 0
            self.process = None
        if self.process is None and self.every_s > 0 and time.time() >= self.next_at:
            self.next_at = time.time() + self.every_s
            log = open(self.log_path, "a")
            self.process = subprocess.Popen(
                ["bash", "-c", 'bash "$0/scripts/roll-up.sh" && bash "$0/scripts/marts.sh"', str(self.root)], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=terminate_with_parent)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def service_addresses(env, api_port):
    """Where each service serves /metrics, /healthz and /readyz."""
    return {"producer": env.get("PRODUCER_HTTP_ADDR", "127.0.0.1:9101"),
            "stream-processor": env.get("PROCESSOR_HTTP_ADDR", "127.0.0.1:9102"),
            "lake-writer": env.get("LAKE_WRITER_HTTP_ADDR", "127.0.0.1:9103"),
            "query-api": f"127.0.0.1:{api_port}"}


def service_urls(env, api_port):
    """Where the dashboard's health page reads each service's /metrics ("name=url,...")."""
    return ",".join(f"{name}=http://{address}" for name, address in service_addresses(env, api_port).items())


def prometheus_config(addresses, rules_dir, scrape_interval_s=5):
    """ops/prometheus/prometheus.yml for the local stack: the same jobs and rules, loopback targets
    (JSON is YAML, so no YAML library is needed)."""
    jobs = [{"job_name": name, "static_configs": [{"targets": [address]}]} for name, address in addresses.items()]
    return json.dumps({"global": {"scrape_interval": f"{scrape_interval_s}s", "evaluation_interval": f"{scrape_interval_s}s"},
                       "rule_files": [str(Path(rules_dir) / "*.yml")], "scrape_configs": jobs}, indent=2)


def prometheus(args, env):
    """Prometheus on 127.0.0.1:--prometheus-port scraping the stack, with tickflow's alert rules."""
    folder = args.data / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(prometheus_config(service_addresses(env, args.api_port), args.root / "ops/prometheus/rules"))
    return Process("prometheus", [
        "prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{args.prometheus_port}", "--storage.tsdb.retention.time=2d"],
        args.data / "logs" / "prometheus.log")


def stop_in_order(stack):
    for name in ("prometheus", "dashboard", "query-api"):
        if name in stack:
            stack[name].stop(30)
    print("tickflow: stopping: the feed first, then each service once it has read what is upstream of it, "
          "the broker last (Ctrl-C again stops at once)", flush=True)
    for name in ("producer", "exchange"):
        if name in stack:
            stack[name].stop(30)
    for name, topics in (("stream-processor", [service_metrics.RAW_TRADES]),
                         ("lake-writer", service_metrics.LAKE_WRITER_INPUTS)):
        process = stack[name]
        if process.running() and not wait_until_drained(process, topics):
            print(f"tickflow: {name} has not caught up after {DRAIN_TIMEOUT_S} s; stopping it anyway "
                  "(the rest is read at the next start)", flush=True)
        process.stop(90)
    stack["broker"].stop(90)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="the stack's folder (.tickflow)")
    parser.add_argument("--bin", required=True, type=Path, help="folder of the service binaries")
    parser.add_argument("--root", required=True, type=Path, help="the repository")
    parser.add_argument("--broker-port", type=int, default=9092)
    parser.add_argument("--feed", choices=["simulator", "synthetic"], default="simulator")
    parser.add_argument("--exchange-port", type=int, default=9443,
                        help="the simulator's first port (Binance WebSocket; REST, Coinbase, Finnhub on the next three)")
    parser.add_argument("--rate", type=float, default=2000, help="trades per second of the feed")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: at Ctrl-C)")
    parser.add_argument("--api-port", type=int, default=8000, help="the query-api's port")
    parser.add_argument("--dashboard-port", type=int, default=8501, help="the dashboard's port")
    parser.add_argument("--dashboard-python", type=Path, help="the dashboard's Python (its environment); none: no dashboard")
    parser.add_argument("--prometheus-port", type=int, default=0,
                        help="also run Prometheus (Debian's) on this port with the alert rules (0: no Prometheus)")
    parser.add_argument("--marts-every", type=float, default=0, help="seconds between marts builds (0: none)")
    return parser.parse_args()


def build(args):
    data, bin_dir, logs = args.data, args.bin, args.data / "logs"
    stack = {"broker": Process("broker", ["bash", str(args.root / "scripts/kafka.sh"), "broker", str(data / "kafka"),
                                          str(args.broker_port)], logs / "broker.log")}
    feed = ["--rate", str(args.rate)]
    if args.feed == "simulator":
        ca = data / "exchange-ca.pem"
        port = args.exchange_port
        stack["exchange"] = Process("exchange", [
            str(bin_dir / "exchange-sim"), "--tls", "--tls-ca-out", str(ca), "--rate", str(args.rate),
            "--binance-ws-port", str(port), "--binance-rest-port", str(port + 1),
            "--coinbase-ws-port", str(port + 2), "--finnhub-ws-port", str(port + 3),
            "--manifest", str(logs / "exchange-manifest.jsonl")], logs / "exchange.log")
        feed = ["--source", "binance,coinbase,finnhub", "--feed-ca-file", str(ca),
                "--binance-ws-url", f"wss://127.0.0.1:{port}", "--binance-rest-url", f"https://127.0.0.1:{port + 1}",
                "--coinbase-ws-url", f"wss://127.0.0.1:{port + 2}", "--finnhub-ws-url", f"wss://127.0.0.1:{port + 3}",
                # What the clients receive is recorded, for replays: --source replay --replay-file <capture>.
                "--capture-dir", str(data / "capture"), "--capture-rotate-mb", "64",
                # Each run starts a new simulator, a new exchange whose trades do not continue the
                # previous run's: there is nothing to resume from (it would read as huge id gaps).
                "--resume-records", "0"]
    stack["stream-processor"] = Process("stream-processor", [str(bin_dir / "stream-processor")],
                                        logs / "stream-processor.log", progress.SERVICES["stream-processor"])
    stack["lake-writer"] = Process("lake-writer", [str(bin_dir / "lake-writer"), "--lake-url", str(data / "lake")],
                                   logs / "lake-writer.log", progress.SERVICES["lake-writer"])
    stack["producer"] = Process("producer", [str(bin_dir / "producer"), *feed], logs / "producer.log",
                                progress.SERVICES["producer"])
    stack["query-api"] = Process("query-api", [str(bin_dir / "query-api"), "--addr", f"127.0.0.1:{args.api_port}",
                                               "--lake-url", str(data / "lake"),
                                               "--marts", str(data / "warehouse" / "marts.duckdb")], logs / "query-api.log")
    if args.dashboard_python:
        stack["dashboard"] = Process("dashboard", [
            str(args.dashboard_python), "-m", "streamlit", "run", str(args.root / "dashboard/app.py"),
            "--server.port", str(args.dashboard_port), "--server.address", "127.0.0.1", "--server.headless", "true",
            "--browser.gatherUsageStats", "false"], logs / "dashboard.log")
    return stack


def main():
    args = parse_args()
    for folder in ("lake", "logs"):
        (args.data / folder).mkdir(parents=True, exist_ok=True)
    stack = build(args)
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{args.broker_port}",
               RUST_LOG=os.environ.get("RUST_LOG", "info"))
    if args.feed == "simulator":
        env.setdefault("FINNHUB_API_KEY", "local-simulator")  # the simulator takes any key; the client needs one
        (args.data / "exchange-ca.pem").unlink(missing_ok=True)

    def request_stop(signum, frame):
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C ends everything at once
        raise Stop()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    failure = None
    started = time.time()
    try:
        stack["broker"].start(env)
        wait_for_port(args.broker_port, stack.values())
        if "exchange" in stack:
            stack["exchange"].start(env)
            while not (args.data / "exchange-ca.pem").exists():
                check_alive(stack.values())
                time.sleep(0.2)
        if args.prometheus_port:
            stack["prometheus"] = prometheus(args, env)
        for name in ("stream-processor", "lake-writer", "producer", "query-api", "dashboard", "prometheus"):
            if name in stack:
                stack[name].start(env | {"TICKFLOW_API_URL": f"http://127.0.0.1:{args.api_port}",
                                         "TICKFLOW_SERVICES": service_urls(env, args.api_port)})
        print(f"tickflow: broker 127.0.0.1:{args.broker_port}, lake {args.data / 'lake'}, logs {args.data / 'logs'};"
              " Ctrl-C stops it in order", flush=True)
        print(f"tickflow: query API http://127.0.0.1:{args.api_port}/v1/openapi.json"
              + (f", dashboard http://127.0.0.1:{args.dashboard_port}" if "dashboard" in stack else "")
              + (f", Prometheus http://127.0.0.1:{args.prometheus_port}/alerts" if args.prometheus_port else "")
            + (f"; marts rebuilt every {args.marts_every:.0f} s" if args.marts_every > 0 else ""), flush=True)
        report = progress.Report(args.data / "lake")
        marts = MartsSchedule(args.root, args.data, args.marts_every)
        while args.seconds <= 0 or time.time() - started < args.seconds:
            time.sleep(1)
            check_alive(stack.values())
            marts.tick()
            if report.due():
                print(report.line(), flush=True)
    except Stop:
        pass
    except RuntimeError as error:
        failure = error
        print(f"tickflow: {error}", file=sys.stderr, flush=True)
    try:
        if "marts" in locals():
            marts.stop()
        stop_in_order(stack)
    except (Stop, KeyboardInterrupt):
        for process in stack.values():
            if process.running():
                process.process.kill()
    print("tickflow: stopped; `make run` continues from here, `make clean` starts from empty", flush=True)
    sys.exit(1 if failure else 0)


if __name__ == "__main__":
    main()
