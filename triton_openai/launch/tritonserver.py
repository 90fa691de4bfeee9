"""The embedded tritonserver: the `nvidia-pytriton` wheel's binary, run as a child process.

The wheel ships `tritonserver`, its shared libraries, the Python backend and one
`triton_python_backend_stub` per Python version. We copy the backend and the stub for
this interpreter into a cached backends folder, then start the server on loopback with:
- the wheel's libraries and this interpreter's own libpython first on LD_LIBRARY_PATH
  (the stub links libpython dynamically; a different build of the same version fails
  with undefined symbols),
- this interpreter's bin folder first on PATH (the stub runs models with the first
  `python3` there, so they see this environment's packages).
The server runs in its own session, so stopping it also stops its stub processes, and
it gets SIGTERM if we die (PR_SET_PDEATHSIG).

Another tritonserver (`--tritonserver`, e.g. the NGC image's) runs with its own backends
folder (`<prefix>/backends` beside `<prefix>/bin`, else its built-in default) and its own
libraries: the wheel's are left off LD_LIBRARY_PATH, as they may not match it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

from triton_openai.repository.cache import building, locked

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class TritonStartError(RuntimeError):
    """tritonserver exited or did not become ready; the message ends with its log."""


def _pytriton_dirs() -> tuple[Path, Path]:
    # Found, not imported: the package's __init__ loads pytriton's Python API (pyzmq, sh, ...),
    # which serving never uses (the GPU check carries the wheel without those dependencies).
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonStartError("nvidia-pytriton is not installed (it provides the embedded tritonserver)")
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "tritonserver", package.parent / "nvidia_pytriton.libs"


def prepare_backends(cache: Path) -> Path:
    """A backends folder with the Python backend and this interpreter's stub (cached)."""
    dist, _ = _pytriton_dirs()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    version = importlib.metadata.version("nvidia-pytriton")
    target = cache / "tritonserver" / f"pytriton-{version}-py{py}" / "backends"
    with locked(target):
        if not (target / "python" / "triton_python_backend_stub").is_file():
            stub = dist / "python_backend_stubs" / py / "triton_python_backend_stub"
            if not stub.is_file():
                raise TritonStartError(f"nvidia-pytriton {version} has no Python backend stub for Python {py}")
            with building(target) as scratch:
                shutil.copytree(dist / "backends" / "python", scratch / "python")
                shutil.copy2(stub, scratch / "python" / "triton_python_backend_stub")
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedTriton:
    def __init__(
        self,
        repository: Path,
        cache: Path,
        log_path: Path,
        grpc_port: int = 0,
        http_port: int = 0,
        metrics_port: int = 0,
        binary: str | None = None,
    ) -> None:
        self.repository = repository
        self.binary = Path(binary) if binary else None
        self.cache = cache
        self.log_path = log_path
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def command(self) -> list[str]:
        return [
            *self._binary_and_backends(),
            f"--model-repository={self.repository}",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            "--exit-timeout-secs=10",
            "--log-verbose=0",
        ]

    def _binary_and_backends(self) -> list[str]:
        if self.binary is None:
            dist, _ = _pytriton_dirs()
            return [str(dist / "bin" / "tritonserver"), f"--backend-directory={prepare_backends(self.cache)}"]
        backends = self.binary.parent.parent / "backends"
        return [str(self.binary), *([f"--backend-directory={backends}"] if backends.is_dir() else [])]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        libs = "" if self.binary is not None else str(_pytriton_dirs()[1])
        paths = [libdir, libs, env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = ":".join(p for p in paths if p)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.setdefault("HF_HUB_OFFLINE", "1")
        env["PYTHONUTF8"] = "1"  # the stubs' Python reads files as UTF-8 whatever the locale
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        return env

    def start(self, timeout: float = 600.0) -> EmbeddedTriton:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        logger.info("starting tritonserver (log: %s)", self.log_path)
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        self._wait_ready(timeout)
        logger.info("tritonserver ready: gRPC %s", self.grpc_url)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http_port}/v2/health/ready"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise TritonStartError(f"tritonserver exited with {self.process.returncode}\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.25)
        self.stop()
        raise TritonStartError(f"tritonserver was not ready after {timeout:.0f}s\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (Triton unloads its models and its stubs exit), then SIGKILL the session."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("tritonserver did not stop in %ss; killing it", timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


def die_with_parent() -> None:
    """In a child, before exec: get SIGTERM when the parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
