"""Run `triton-openai serve` as a child process: a harness for tests and benchmarks (not in the wheel).

with ServerProcess.start(log_dir, "--max-num-seqs", "8") as server:
    OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY")
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from triton_openai.launch.tritonserver import die_with_parent, free_port


class ServerStartError(RuntimeError):
    """The server exited or did not become healthy; the message ends with its log."""


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    grpc_port: int
    metrics_port: int
    log: Path
    scheme: str = "http"

    @classmethod
    def start(cls, log_dir: Path, *args: str, wait: bool = True, timeout: float = 900.0) -> ServerProcess:
        """Start on free loopback ports; extra `args` go to `triton-openai serve`."""
        port, grpc_port, metrics_port = free_port(), free_port(), free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"server-{port}.log"
        command = [
            sys.executable, "-m", "triton_openai", "serve",
            "--host", "127.0.0.1", "--port", str(port),
            "--triton-grpc-port", str(grpc_port), "--triton-metrics-port", str(metrics_port),
            "--triton-log", str(log_dir / f"triton-{port}.log"),
            "--log-level", "warning",
            *(() if "--files-dir" in args else ("--files-dir", str(log_dir / f"files-{port}"))),
            *args,
        ]  # fmt: skip
        with open(log, "wb") as out:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            # If we die (a killed test run or benchmark), the server gets SIGTERM and cleans up.
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent
            )
        server = cls(process, port, grpc_port, metrics_port, log, "https" if "--ssl-certfile" in args else "http")
        if wait:
            server.wait_healthy(timeout)
        return server

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def wait_healthy(self, timeout: float = 900.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                # /health only says the server is up; the certificate is the caller's to check.
                if httpx.get(self.base_url + "/health", timeout=2, verify=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise ServerStartError(f"server not healthy after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def metric(self, name: str, labels: str = "") -> float:
        """A value from the embedded Triton's Prometheus metrics (0 when absent)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(name + "{") and labels in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as a supervisor would; the return code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
