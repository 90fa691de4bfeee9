"""Starting and stopping: an external Triton, clean shutdown, no orphaned stub processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import openai

from tests.e2e.conftest import MODEL, start_server


def descendants(pid: int) -> dict[int, str]:
    """{pid: command line} of every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: dict[int, str] = {}
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found[child] = commands.get(child, "")
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_frontend_on_an_existing_triton_starts_none(server, tmp_path):
    frontend = start_server(tmp_path, "--triton-url", f"127.0.0.1:{server.grpc_port}")
    try:
        processes = descendants(frontend.process.pid)
        assert not any(Path(command.split(" ")[0]).name == "tritonserver" for command in processes.values())
        client = openai.OpenAI(base_url=frontend.base_url + "/v1", api_key="EMPTY", max_retries=0)
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
        assert reply.usage.completion_tokens >= 1
    finally:
        assert frontend.stop() == 0


def test_sigterm_stops_triton_and_its_stubs(tmp_path, prepared_model):
    running = start_server(tmp_path)
    try:
        tree = descendants(running.process.pid)
        triton = [pid for pid, command in tree.items() if Path(command.split(" ")[0]).name == "tritonserver"]
        stubs = [pid for pid, command in tree.items() if "triton_python_backend_stub" in command]
        assert len(triton) == 1
        assert len(stubs) == 2  # the default model: its llm model and its preprocessing model
    finally:
        assert running.stop() == 0
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in triton + stubs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in triton + stubs if alive(pid)]
