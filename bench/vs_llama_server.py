"""Our stack against llama.cpp's llama-server on the same GGUF, one after the other, one run.

The same client (OpenAI SDK, streamed chat, temperature 0, `ignore_eos`, `--max-tokens` tokens,
the first `--prompts` prompts of bench/prompts.py cycled) drives each server at every concurrency
level, `--rounds` rounds per level (each round sends max(2 x concurrency, prompts) requests); the
figures are the median round's. Our stack is also driven through Triton directly (the ensemble
over gRPC, the same prompts as chat messages) at the levels of `--direct`, for the frontend's
share of the latency. Then: memory (resident, every process of each server), the quality of the
GGUF's blocks against full precision (bench/quality.py), and how often llama-server's greedy
answer and ours are the same.

llama-server runs as `-t <cores> --parallel 8 --cont-batching -c 4096` (bench/setup_llama_server.sh
builds it). Prefix caching is on for both (`--prefix-caching off`: off for both); each server first
answers every prompt once, untimed, so that every level meets the same cache state. The machine must
be quiet (llama.cpp's threads spin): the bench waits for a low load and refuses otherwise.

    .venv/bin/python bench/vs_llama_server.py --concurrency 1 4 8 16 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openai  # noqa: E402

from bench import quality  # noqa: E402
from bench.clients import (  # noqa: E402
    LevelTimings,
    RequestTiming,
    check_quiet,
    percentile,
    run_level,
    stream_chat,
    tree_rss_mib,
    wait_for_others,
)
from bench.prompts import PROMPTS  # noqa: E402

MODEL = "smollm2-135m-instruct"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ServerFigures:
    name: str
    levels: dict[int, LevelTimings] = field(default_factory=dict)
    rounds: dict[int, list[float]] = field(default_factory=dict)  # tok/s of every round
    memory_mib: dict[str, float] = field(default_factory=dict)
    greedy: list[str] = field(default_factory=list)  # answers to the prompts at concurrency 1


# -- driving a server ---------------------------------------------------------------------------


def drive(name: str, request, args: argparse.Namespace, levels: list[int], server_pid: int) -> ServerFigures:
    """Every level's rounds, in one event loop (the clients live in it)."""
    return asyncio.run(_drive(name, request, args, levels, server_pid))


async def _drive(name: str, request, args: argparse.Namespace, levels: list[int], server_pid: int) -> ServerFigures:
    figures = ServerFigures(name)
    prompts = PROMPTS[: args.prompts]
    # Warm up with every prompt once: with prefix caching on, each server (and Triton direct, after
    # the frontend) then meets every level in the same cache state, the first round included.
    await run_level(request, prompts, 1)
    for concurrency in levels:
        count = max(2 * concurrency, len(prompts))
        batch = [prompts[i % len(prompts)] for i in range(count)]
        rounds = []
        for _ in range(args.rounds):
            wait_for_others(exclude=(server_pid,))  # nothing else may take the cores mid-level
            try:
                rounds.append(await run_level(request, batch, concurrency))
            except openai.APIConnectionError as exc:
                print(f"  {name:<14} c{concurrency:<3} failed: {exc!r} (higher levels skipped)", flush=True)
                return figures
        figures.rounds[concurrency] = [r.rate for r in rounds]
        figures.levels[concurrency] = sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2]
        if concurrency == 1:
            figures.greedy = [r.text for r in rounds[-1].requests[: len(prompts)]]
        print(f"  {name:<14} c{concurrency:<3} {describe(figures.levels[concurrency])}", flush=True)
    return figures


def describe(level: LevelTimings) -> str:
    return (
        f"{level.rate:7.1f} tok/s  TTFT p50 {percentile(level.ttft, 50) * 1e3:6.0f} ms"
        f" p99 {percentile(level.ttft, 99) * 1e3:6.0f} ms  ITL p50 {percentile(level.itl, 50) * 1e3:5.1f} ms"
        f" p99 {percentile(level.itl, 99) * 1e3:5.1f} ms  chunk gap p99 {percentile(level.gaps, 99) * 1e3:5.1f} ms"
        f"  tokens {level.tokens}"
    )


def openai_request(base_url: str, model: str, max_tokens: int, extra: dict):
    import httpx
    import openai

    # A new connection per request, for both servers: llama-server closes kept-alive connections
    # after a few requests or seconds, and a request sent on one it just closed fails; that is not
    # the server hanging up on a stream, which is what a failed level reports.
    http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), timeout=600)
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="EMPTY", max_retries=0, http_client=http)

    async def request(prompt: str) -> RequestTiming:
        return await stream_chat(client, model, prompt, max_tokens, ignore_eos=True, **extra)

    return request


def triton_request(grpc_url: str, max_tokens: int):
    """The ensemble over gRPC, streamed (what the frontend's HTTP path costs on top of)."""
    import numpy as np
    import tritonclient.grpc.aio as grpcclient

    def tensor(name, value, dtype):
        array = np.array([[value]], dtype=dtype)
        kind = {np.object_: "BYTES", np.int32: "INT32", np.float32: "FP32", np.bool_: "BOOL"}[dtype]
        t = grpcclient.InferInput(name, list(array.shape), kind)
        t.set_data_from_numpy(array)
        return t

    async def request(prompt: str) -> RequestTiming:
        client = grpcclient.InferenceServerClient(grpc_url)
        messages = json.dumps([{"role": "user", "content": prompt}]).encode()
        inputs = [
            tensor("messages", messages, np.object_),
            tensor("max_tokens", max_tokens, np.int32),
            tensor("temperature", 0.0, np.float32),
            tensor("ignore_eos", True, np.bool_),
            tensor("stream", True, np.bool_),
        ]

        async def requests():
            yield {"model_name": MODEL, "inputs": inputs, "request_id": str(time.monotonic_ns())}

        start, times, tokens = time.perf_counter(), [], 0
        async for result, error in client.stream_infer(requests()):
            if error is not None:
                raise RuntimeError(str(error))
            text = result.as_numpy("text_output")
            if text is not None and text.reshape(-1)[0]:
                times.append(time.perf_counter())
            count = result.as_numpy("num_output_tokens")
            if count is not None:
                tokens = int(count.reshape(-1)[0])
            finish = result.as_numpy("finish_reason")
            if finish is not None and finish.reshape(-1)[0]:
                break
        await client.close()
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        return RequestTiming(ttft=times[0] - start if times else float("nan"), gaps=gaps, tokens=tokens)

    return request


# -- the two servers --------------------------------------------------------------------------


def run_ours(args: argparse.Namespace) -> tuple[ServerFigures, ServerFigures | None]:
    from tests.server_process import ServerProcess

    log_dir = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    flags = ["--max-num-seqs", str(max(args.concurrency)), "--embedding-model", "none"]
    flags += ["--transcription-model", "none", "--speech-voice", "none"]
    if args.prefix_caching == "off":
        flags.append("--no-prefix-caching")
    with ServerProcess.start(log_dir, *flags, *args.server_arg) as server:
        check_quiet(args.max_load + 0.5)
        ours = drive("ours", openai_request(server.base_url, MODEL, args.max_tokens, {}), args, args.concurrency,
                     server.process.pid)  # fmt: skip
        ours.memory_mib = tree_rss_mib(server.process.pid)
        direct = None
        if args.direct:
            direct = drive("triton direct", triton_request(server.grpc_url, args.max_tokens), args, args.direct,
                           server.process.pid)  # fmt: skip
    return ours, direct


def run_llama(args: argparse.Namespace, gguf: str) -> ServerFigures:
    import httpx

    from triton_openai.launch.tritonserver import free_port

    binary = args.llama_server or subprocess.check_output([str(ROOT / "bench/setup_llama_server.sh")], text=True)
    port = free_port()
    command = [binary.strip(), "-m", gguf, "-t", str(os.cpu_count()), "--parallel", "8", "--cont-batching"]
    command += ["-c", "4096", "--host", "127.0.0.1", "--port", str(port), "--no-webui"]
    # an HTTP thread for every connection in flight (its default is about one per core); beyond
    # --parallel 8 requests wait in its queue, and at 32 streams it still hangs up on some of them:
    # that level is reported failed
    command += ["--threads-http", str(max(args.concurrency) + 4)]
    log = open(Path(tempfile.mkdtemp(prefix="bench-llama-")) / "llama-server.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        extra = {"cache_prompt": args.prefix_caching == "on"}
        check_quiet(args.max_load + 0.5)
        figures = drive("llama-server", openai_request(f"http://127.0.0.1:{port}", MODEL, args.max_tokens, extra), args,
                        args.concurrency, process.pid)  # fmt: skip
        figures.memory_mib = tree_rss_mib(process.pid)
        return figures
    finally:
        process.terminate()
        process.wait(30)


# -- the report -------------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1e3


def _pair(mine: LevelTimings, theirs: LevelTimings | None, values, q: float, digits: int = 0) -> str:
    other = f"{_ms(values(theirs), q):.{digits}f}" if theirs else "-"
    return f"{_ms(values(mine), q):.{digits}f} / {other} ms"


def _ratio(a: float, b: float | None) -> str:
    return f"{a / b:.2f}x" if b else "-"


def report(ours: ServerFigures, llama: ServerFigures | None, direct: ServerFigures | None) -> list[str]:
    lines = [
        "| concurrency | ours tok/s | llama-server tok/s | ratio | TTFT p50 ours / llama | ratio"
        " | TTFT p99 ours / llama | ITL p50 ours / llama | chunk gap p99 ours / llama |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c, level in ours.levels.items():
        other = llama.levels.get(c) if llama else None

        def ttft(x):
            return x.ttft

        def itl(x):
            return x.itl

        def gaps(x):
            return x.gaps

        cells = [
            str(c),
            f"{level.rate:.1f}",
            f"{other.rate:.1f}" if other else "-",
            _ratio(level.rate, other.rate if other else None),
            _pair(level, other, ttft, 50),
            _ratio(_ms(level.ttft, 50), _ms(other.ttft, 50) if other else None),
            _pair(level, other, ttft, 99),
            _pair(level, other, itl, 50, 1),
            _pair(level, other, gaps, 99, 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if direct:
        lines += ["", "| concurrency | TTFT p50 frontend / Triton direct | ratio | tok/s frontend / direct |"]
        lines.append("|---|---|---|---|")
        for c, level in direct.levels.items():
            mine = ours.levels.get(c)
            if mine is not None:
                a, b = _ms(mine.ttft, 50), _ms(level.ttft, 50)
                lines.append(f"| {c} | {a:.0f} / {b:.0f} ms | {_ratio(a, b)} | {mine.rate:.1f} / {level.rate:.1f} |")
    lines.append("")
    for figures in (ours, llama):
        if figures:
            total = sum(figures.memory_mib.values())
            parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(figures.memory_mib.items(), key=lambda kv: -kv[1]))
            lines.append(f"memory {figures.name}: {total:.0f} MiB resident ({parts})")
    return lines


def greedy_agreement(ours: ServerFigures, llama: ServerFigures, model_dir: str) -> str:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    same, prefixes = 0, []
    for a, b in zip(ours.greedy, llama.greedy, strict=False):
        x, y = tokenizer(a)["input_ids"], tokenizer(b)["input_ids"]
        common = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
        prefixes.append(common)
        same += a == b
    mean = statistics.mean(prefixes) if prefixes else 0
    return (f"greedy answers identical to llama-server's: {same} of {len(prefixes)}; common prefix"
            f" {mean:.1f} tokens on average (of {args_max_tokens(ours)})")  # fmt: skip


def args_max_tokens(figures: ServerFigures) -> int:
    level = figures.levels.get(1)
    return max((r.tokens for r in level.requests), default=0) if level else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--direct", type=int, nargs="*", default=[1, 8], help="levels also sent to Triton directly")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--prefix-caching", choices=["on", "off"], default="on")
    parser.add_argument("--max-load", type=float, default=0.6, help="refuse to start above this 1-minute load")
    parser.add_argument("--llama-server", help="the llama-server binary (default: bench/setup_llama_server.sh)")
    parser.add_argument("--skip-llama", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--server-arg", action="append", default=[], help="extra argument of our `serve`")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    load = check_quiet(args.max_load)
    print(f"# {os.cpu_count()} cores, load {load:.2f}; {MODEL}; {args.max_tokens} tokens, ignore_eos, temperature 0,"
          f" streamed; {args.prompts} prompts; {args.rounds} rounds per level; prefix caching {args.prefix_caching}"
          " for both", flush=True)  # fmt: skip
    model_dir, gguf = quality.default_model()
    ours, direct = run_ours(args)
    llama = None if args.skip_llama else run_llama(args, gguf)
    lines = report(ours, llama, direct)
    if llama:
        lines.append(greedy_agreement(ours, llama, model_dir))
    if not args.skip_quality:
        for q in quality.measure(model_dir, gguf):
            lines.append(f"quality {q.name}: perplexity {q.perplexity:.3f}, top-1 agreement {q.agreement * 100:.1f}%")
    print("\n".join(lines), flush=True)
    if args.json:
        summary = {}
        for name, figures in (("ours", ours), ("llama", llama), ("direct", direct)):
            if figures:
                summary[name] = {
                    c: {"tok_s": lv.rate, "rounds": figures.rounds[c], "ttft": lv.ttft, "itl": lv.itl}
                    for c, lv in figures.levels.items()
                }
        args.json.write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
