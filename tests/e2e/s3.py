"""A real S3-protocol server for the tests: s3s-fs (scripts/s3-server.sh installs it), on a
loopback port, storing each bucket as a folder of plain files. The services reach it through
their S3 clients (object_store, DuckDB's httpfs); the tests may also read the folder directly."""

import http.client
import http.server
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

from pipeline import REPO, Service, free_port, wait_for_port


def s3s_fs_binary():
    result = subprocess.run(["bash", str(REPO / "scripts/s3-server.sh"), "bin"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class S3Server:
    """s3s-fs serving `root` (each folder a bucket) on 127.0.0.1; keeps its port across restarts."""

    def __init__(self, workdir, bucket="tickflow", access_key="tickflow-test", secret_key=None):
        self.workdir = Path(workdir)
        self.root = self.workdir / "s3"
        self.bucket, self.access_key = bucket, access_key
        self.secret_key = secret_key or f"s3-secret-{secrets.token_hex(8)}"
        self.port = free_port()
        (self.root / bucket).mkdir(parents=True, exist_ok=True)
        self.service = Service("s3s-fs", [s3s_fs_binary(), "--host", "127.0.0.1", "--port", str(self.port),
                                          "--access-key", access_key, "--secret-key", self.secret_key, str(self.root)],
                               dict(os.environ, RUST_LOG="warn"), self.workdir)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, prefix="lake"):
        return f"s3://{self.bucket}/{prefix}"

    def folder(self, prefix="lake"):
        """Where the server keeps the objects under `prefix` (for reading them back directly)."""
        return self.root / self.bucket / prefix

    def client_env(self, endpoint=None):
        """What the services' S3 clients read (object_store's and the query-api's AWS_* variables)."""
        return {"AWS_ENDPOINT": endpoint or self.endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def start(self):
        self.service.start()
        wait_for_port(f"127.0.0.1:{self.port}")

    def stop(self):
        self.service.stop()

    def kill(self):
        self.service.kill()

    def objects(self, prefix="lake", suffix=".parquet"):
        """Keys of the stored objects under `prefix` ending in `suffix`."""
        base = self.folder(prefix)
        return sorted(str(p.relative_to(base)) for p in base.rglob(f"*{suffix}") if p.is_file())


def wait_until(condition, what, timeout=120, period=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(period)
    raise TimeoutError(f"timed out waiting until {what}")


def python_env(requirements):
    """The project's Python environment for a requirements file (scripts/python-env.sh)."""
    return Path(subprocess.run(["bash", str(REPO / "scripts/python-env.sh"), str(REPO / requirements)],
                               check=True, capture_output=True, text=True).stdout.strip())


def dbt_venv():
    return python_env("dbt_project/requirements.txt")


def httpfs_extension():
    """DuckDB's httpfs extension file from the duckdb-extension-httpfs wheel (in dbt's environment;
    the query-api's image copies the same file)."""
    found = sorted(dbt_venv().glob("lib/python*/site-packages/duckdb_extension_httpfs/**/httpfs.duckdb_extension"))
    assert found, f"no httpfs extension in {dbt_venv()}"
    return found[0]


class LosingProxy:
    """An HTTP proxy in front of the S3 server that passes every request on unchanged (the Host
    header too, so signatures still match) and relays the answers, except that it loses the
    answer to every `lose_every`-th PUT of a Parquet file (at most `max_lost` of them): the
    server has stored the object, and the client sees its connection closed without a reply."""

    def __init__(self, upstream_port, lose_every=4, max_lost=8):
        self.upstream_port, self.lose_every, self.max_lost = upstream_port, lose_every, max_lost
        self.puts, self.lost, self.statuses = 0, 0, {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                proxy.forward(self)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def forward(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        upstream.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
        for name, value in handler.headers.items():
            upstream.putheader(name, value)
        upstream.endheaders(body)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        with self.lock:
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            lose = False
            if handler.command == "PUT" and handler.path.split("?")[0].endswith(".parquet") and response.status == 200:
                self.puts += 1
                lose = self.puts % self.lose_every == 0 and self.lost < self.max_lost
                self.lost += lose
        if lose:
            handler.close_connection = True
            return
        handler.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding"):
                handler.send_header(name, value)
        if handler.command != "HEAD" and response.getheader("Content-Length") is None:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)
