"""The real query-api binary for a test: started on a free port over a lake and a marts file,
stopped with SIGTERM (it must exit 0)."""

import os
import subprocess
import time
from pathlib import Path

import requests

from pipeline import binary, free_port


class QueryApi:
    def __init__(self, lake, marts, log_dir, *flags, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / f"query-api-{self.port}.log"
        self.command = [binary("query-api"), "--addr", f"127.0.0.1:{self.port}", "--lake-url", str(lake),
                        "--marts", str(marts), "--marts-check-ms", "200", *flags]
        self.env = {**os.environ, "RUST_LOG": "info", **(env or {})}
        self.process = None

    def start(self, timeout=30):
        self.process = subprocess.Popen(self.command, env=self.env, stdout=open(self.log_path, "a"),
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.process.poll() is None, f"query-api exited: {self.log()}"
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"query-api not ready after {timeout} s: {self.log()}")

    def get(self, path, **params):
        return requests.get(f"{self.url}{path}", params=params, timeout=30)

    def json(self, path, **params):
        response = self.get(path, **params)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def log(self):
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            assert self.process.wait(30) == 0, self.log()
