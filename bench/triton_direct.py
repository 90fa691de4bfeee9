"""The chat load of bench/llm_throughput.py sent to Triton directly: the frontend's overhead.

The same prompts, token cap and concurrency levels, as the very Triton request the frontend
makes for them (the frontend's own ChatCompletionRequest turned into its GenerationJob: one
stream from `<model>_llm`, which renders and tokenizes the messages itself), through the
frontend's own Triton client (triton_openai.frontend.triton.client), with no HTTP, SSE or JSON
between. Compare its tok/s, TTFT and inter-token latency with llm_throughput's stack figures at the same
levels, against the same server:

    .venv/bin/python bench/triton_direct.py --grpc-url 127.0.0.1:8001 --concurrency 1 8 32

Prints a table; `--json FILE` also writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import RequestTiming, percentile  # noqa: E402
from bench.llm_throughput import MODEL, LevelResult  # noqa: E402
from bench.prompts import PROMPTS  # noqa: E402


async def one_request(client, model, prompt: str, max_tokens: int, index: int) -> RequestTiming:
    from triton_openai.frontend.protocol.chat import ChatCompletionRequest
    from triton_openai.frontend.triton.jobs import GenerationJob

    request = ChatCompletionRequest.model_validate(
        {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0}
    )
    start = time.perf_counter()
    job = GenerationJob(request.chat_prompt(), replace(request.sampling(None), seed=request.choice_seeds()[0]))
    times, tokens = [], 0
    async for chunk in client.generate(model, job, f"bench-{index}"):
        if chunk.text:
            times.append(time.perf_counter())
        tokens = chunk.num_output_tokens
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return RequestTiming(ttft=(times[0] - start) if times else float("nan"), gaps=gaps, tokens=tokens)


async def run_level(grpc_url: str, prompts: list[str], concurrency: int, max_tokens: int) -> tuple[float, list]:
    from triton_openai.frontend.triton.client import GrpcTritonClient

    client = GrpcTritonClient(grpc_url)
    model = next(m for m in await client.models() if m.name == MODEL)
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(prompts):
        queue.put_nowait(item)
    timings: list[RequestTiming] = []

    async def worker() -> None:
        while not queue.empty():
            index, prompt = queue.get_nowait()
            timings.append(await one_request(client, model, prompt, max_tokens, index))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed, timings


HEADER = f"{'conc':>4} {'reqs':>4} {'Triton tok/s':>12} {'TTFT p50':>9} {'TTFT p99':>9} {'ITL p50':>8} {'ITL p99':>8}"


def row(level: LevelResult) -> str:
    return (
        f"{level.concurrency:>4} {level.requests:>4} {level.stack_rate:>12.1f}"
        f" {percentile(level.ttft, 50) * 1000:>7.0f}ms {percentile(level.ttft, 99) * 1000:>7.0f}ms"
        f" {percentile(level.itl, 50) * 1000:>6.0f}ms {percentile(level.itl, 99) * 1000:>6.0f}ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grpc-url", required=True, help="the running server's Triton (gRPC)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--single-requests", type=int, default=8, help="requests at concurrency 1")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    print(f"# Triton direct at {args.grpc_url}; {MODEL}; max_tokens {args.max_tokens}; temperature 0", flush=True)
    print(HEADER, flush=True)
    asyncio.run(run_level(args.grpc_url, PROMPTS[:2], 2, 8))  # warm up
    results = []
    for concurrency in args.concurrency:
        count = args.requests if concurrency > 1 else min(args.requests, args.single_requests)
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(count)]
        level = LevelResult(concurrency, count)
        elapsed, timings = asyncio.run(run_level(args.grpc_url, prompts, concurrency, args.max_tokens))
        level.stack_seconds, level.stack_tokens = elapsed, sum(t.tokens for t in timings)
        level.ttft = [t.ttft for t in timings]
        level.itl = [g for t in timings for g in t.gaps]
        results.append(level)
        print(row(level), flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"triton_tok_s": r.stack_rate} for r in results], indent=1))


if __name__ == "__main__":
    main()
