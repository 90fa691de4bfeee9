"""The real stack for end-to-end tests: `triton-openai serve` in a subprocess.

It starts tritonserver (from the nvidia-pytriton wheel) with the default model, and the
frontend on a free port. Tests call it through the official openai package.
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

import httpx
import openai
import pytest

from frontend.tritonserver import free_port

MODEL = "smollm2-135m-instruct"
STARTUP_TIMEOUT = 900


@dataclass
class RunningServer:
    process: subprocess.Popen
    port: int
    grpc_port: int
    metrics_port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str, labels: str = "") -> float:
        """A value from the embedded Triton's Prometheus metrics (0 when absent)."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(name + "{") and labels in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(tmp: Path, *extra: str, wait_for_health: bool = True) -> RunningServer:
    port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    log = tmp / f"server-{port}.log"
    command = [
        sys.executable, "-m", "frontend", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--triton-grpc-port", str(grpc_port), "--triton-metrics-port", str(metrics_port),
        "--triton-log", str(tmp / f"triton-{port}.log"),
        "--log-level", "warning",
        *extra,
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    server = RunningServer(process, port, grpc_port, metrics_port, log)
    if wait_for_health:
        wait_healthy(server)
    return server


def wait_healthy(server: RunningServer, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log.read_text()[-4000:]}")
        try:
            if httpx.get(server.base_url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"server not healthy after {timeout}s:\n{server.log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def server(tmp_path_factory, prepared_model):
    running = start_server(tmp_path_factory.mktemp("server"), "--max-num-seqs", "8")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def http(server) -> httpx.Client:
    with httpx.Client(base_url=server.base_url, timeout=120) as session:
        yield session
