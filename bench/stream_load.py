"""Many streaming clients, some of which hang up: is every finished stream whole, is nothing
left running in the engine, and does memory come back down?

Starts the stack (LLM only) and takes greedy reference answers for a few prompts, one at a
time. Then `--clients` clients stream chat completions in a loop for `--seconds`, each with a
random `max_tokens`; a third of the clients (every third one) hang up after a random number of
chunks. Every stream read to its end is checked:
- whole: chunks parse, one id, role first, exactly one finish_reason, a usage chunk whose
  completion_tokens equals the content chunks received, then [DONE];
- right: its text is the reference answer's prefix (finish_reason `length`) or all of it
  (`stop`), so batching and cancelled neighbours change nothing.
Afterwards it waits for the engine's running and waiting gauges to reach 0 and compares the
server's resident memory (frontend + tritonserver + backend stubs, each shown) with the
baseline taken after a short warm-up burst of the same load (buffers and allocator pools at
their working size), and with the memory before any load.

    .venv/bin/python bench/stream_load.py --clients 100 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server_process import ServerProcess  # noqa: E402

MODEL = "smollm2-135m-instruct"
LLM = f'model="{MODEL}_llm"'
PROMPTS = [
    "Name three colours.",
    "What is the capital of France?",
    "Count from one to ten.",
    "Write a short sentence about the sea.",
    "What do bees make?",
    "Say hello in Spanish.",
    "Give me a fruit that is yellow.",
    "What is two plus two?",
]
MAX_TOKENS = 48


@dataclass
class Tally:
    completed: int = 0
    whole: int = 0
    matching: int = 0
    hung_up: int = 0
    rejected: dict[int, int] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    tokens: int = 0


def tree_rss_mib(root_pid: int) -> dict[str, float]:
    """Resident memory (MiB) of a process and all its descendants, from /proc, by process
    (the frontend, tritonserver, each backend stub by its model)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    sizes: dict[str, float] = {}
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            rss = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:")]
        except OSError:
            continue
        if rss:
            name = _process_name([a.decode(errors="replace") for a in argv if a])
            sizes[name] = sizes.get(name, 0.0) + int(rss[0].split()[1]) / 1024
    return sizes


def _process_name(argv: list[str]) -> str:
    if not argv:
        return "?"
    if argv[0].endswith("triton_python_backend_stub") and len(argv) > 1:
        return "stub " + Path(argv[1]).parent.parent.name  # .../<model>/1/model.py
    return Path(argv[0]).name if "frontend" not in argv else "frontend"


def body(prompt: str, max_tokens: int, stream: bool) -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    }


def check_stream(lines: list[str], reference: str) -> tuple[str | None, bool, int]:
    """(what is wrong with a stream read to its end, or None; whether its text is right; tokens)."""
    if not lines or lines[-1] != "data: [DONE]":
        return "no [DONE] at the end", False, 0
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    if len({c["id"] for c in chunks}) != 1:
        return "several ids", False, 0
    choices = [c["choices"][0] for c in chunks if c["choices"]]
    if not choices or choices[0]["delta"].get("role") != "assistant":
        return "no role first", False, 0
    finishes = [c["finish_reason"] for c in choices if c.get("finish_reason")]
    if len(finishes) != 1:
        return f"{len(finishes)} finish reasons", False, 0
    usage = chunks[-1].get("usage")
    pieces = [c["delta"]["content"] for c in choices if c["delta"].get("content")]
    if not usage or usage["completion_tokens"] < len(pieces):
        return f"usage {usage} for {len(pieces)} content chunks", False, 0
    text = "".join(pieces)
    right = text == reference if finishes[0] == "stop" else reference.startswith(text)
    return None, right, usage["completion_tokens"]


async def one_stream(http: httpx.AsyncClient, tally: Tally, references: dict, hang_up: bool, rng: random.Random):
    prompt = rng.choice(PROMPTS)
    max_tokens = rng.randint(4, MAX_TOKENS)
    hang_up_after = rng.randint(1, max_tokens) if hang_up else None
    started = time.perf_counter()
    lines: list[str] = []
    async with http.stream("POST", "/v1/chat/completions", json=body(prompt, max_tokens, True)) as response:
        if response.status_code != 200:
            await response.aread()
            tally.rejected[response.status_code] = tally.rejected.get(response.status_code, 0) + 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            return
        async for line in response.aiter_lines():
            if not line:
                continue
            if not lines:
                tally.ttft.append(time.perf_counter() - started)
            lines.append(line)
            if hang_up_after is not None and len(lines) >= hang_up_after:
                tally.hung_up += 1
                return  # leaving the block closes the connection mid-stream
    tally.completed += 1
    problem, right, tokens = check_stream(lines, references[prompt])
    if problem:
        tally.broken.append(problem)
        return
    tally.whole += 1
    tally.tokens += tokens
    if right:
        tally.matching += 1
    else:
        tally.mismatched.append(prompt)


async def client_loop(http, tally, references, hang_up: bool, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        try:
            await one_stream(http, tally, references, hang_up, rng)
        except (httpx.TransportError, json.JSONDecodeError) as exc:
            tally.broken.append(f"{type(exc).__name__}: {exc}")


async def run_load(server: ServerProcess, args, references: dict, seconds: float, seed: int) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=args.clients + 10)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=300, limits=limits) as http:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        clients = [
            client_loop(http, tally, references, hang_up=i % 3 == 0, deadline=deadline, seed=seed + i)
            for i in range(args.clients)
        ]
        await asyncio.gather(*clients)
    return tally, time.monotonic() - started


def wait_idle(server: ServerProcess, timeout: float = 60.0) -> float | None:
    """Seconds until the engine has nothing running or waiting; None if it never gets there."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        busy = server.metric("llm_engine_requests_running", LLM) + server.metric("llm_engine_requests_waiting", LLM)
        if busy == 0:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-num-seqs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of the same load before the baseline")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait before the last memory reading")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess.start(
            Path(tmp),
            *("--embedding-model", "none", "--transcription-model", "none", "--speech-voice", "none"),
            *("--max-num-seqs", str(args.max_num_seqs)),
        )
        try:
            with httpx.Client(base_url=server.base_url, timeout=300) as http:
                references = {}
                for prompt in PROMPTS:  # alone, one at a time; also the warm-up
                    reply = http.post("/v1/chat/completions", json=body(prompt, MAX_TOKENS, False)).json()
                    references[prompt] = reply["choices"][0]["message"]["content"]
            time.sleep(2)
            cold = tree_rss_mib(server.process.pid)
            # The same load, briefly: batch buffers and allocator pools reach their working size.
            asyncio.run(run_load(server, args, references, args.warmup, args.seed + 1000))
            wait_idle(server)
            time.sleep(args.settle)
            baseline = tree_rss_mib(server.process.pid)
            cancelled_before = server.metric("llm_engine_requests_cancelled_total", LLM)
            tally, elapsed = asyncio.run(run_load(server, args, references, args.seconds, args.seed))
            peak = tree_rss_mib(server.process.pid)
            drained = wait_idle(server)
            cancelled = server.metric("llm_engine_requests_cancelled_total", LLM) - cancelled_before
            time.sleep(args.settle)
            after = tree_rss_mib(server.process.pid)
        finally:
            server.stop()

    ttft = sorted(tally.ttft) or [0.0]
    print(f"{args.clients} streaming clients for {elapsed:.1f} s (every third hangs up at random), "
          f"max-num-seqs {args.max_num_seqs}")  # fmt: skip
    print(f"  streams read to the end: {tally.completed}; whole: {tally.whole}; broken: {len(tally.broken)}")
    print(f"  text equal to the greedy reference (prefix when cut by max_tokens): {tally.matching}/{tally.whole}")
    print(f"  hung up mid-stream: {tally.hung_up}; engine requests cancelled: {cancelled:.0f}")
    print(f"  rejected (status: count): {tally.rejected or 'none'}")
    print(f"  output: {tally.tokens / elapsed:.1f} tok/s; TTFT p50 {statistics.median(ttft) * 1000:.0f} ms, "
          f"p90 {ttft[int(len(ttft) * 0.9)] * 1000:.0f} ms")  # fmt: skip
    idle = "never (60 s)" if drained is None else f"{drained:.1f} s after the load"
    print(f"  engine running + waiting back to 0: {idle}")
    cold_mib, base_mib, peak_mib, after_mib = (sum(s.values()) for s in (cold, baseline, peak, after))
    print(f"  memory (frontend + Triton + stubs), MiB: before any load {cold_mib:.0f}; baseline after a "
          f"{args.warmup:.0f} s warm-up load {base_mib:.0f}; end of load {peak_mib:.0f}; "
          f"{args.settle:.0f} s after it {after_mib:.0f} ({after_mib / base_mib:.3f}x baseline)")  # fmt: skip
    for name in sorted(after):
        print(f"    {name}: {cold.get(name, 0):.0f} -> {baseline.get(name, 0):.0f} -> {after[name]:.0f}")
    for problem in sorted(set(tally.broken))[:10]:
        print(f"  broken: {problem}")
    for prompt in sorted(set(tally.mismatched)):
        print(f"  differs from its reference: {prompt!r}")


if __name__ == "__main__":
    main()
