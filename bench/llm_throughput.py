"""Throughput and latency of the full stack, against plain HF `generate`, in one run.

For each concurrency, `--requests` chat requests (the prompts of bench/prompts.py, in
order) go through the OpenAI SDK to a server this script starts (or `--url`), streamed,
at temperature 0 with `--max-tokens`; the clients keep `concurrency` requests in flight.
Then the same model runs the same prompts in transformers' `generate` (fp32 on the CPU, or
`--hf-device cuda --hf-dtype auto`: bf16 on the GPU; static batches of `concurrency`, greedy,
same token cap) in this process. Both count the tokens
actually generated (up to and including end-of-turn), so the ratio is like for like.

    .venv/bin/python bench/llm_throughput.py --concurrency 1 4 8 16

Prints a table; `--json FILE` also writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import LevelTimings, percentile, run_level, stream_chat  # noqa: E402
from bench.prompts import PROMPTS  # noqa: E402

MODEL = "smollm2-135m-instruct"


@dataclass
class LevelResult:
    concurrency: int
    requests: int
    stack_tokens: int = 0
    stack_seconds: float = 0.0
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    hf_tokens: int = 0
    hf_seconds: float = 0.0

    @property
    def stack_rate(self) -> float:
        return self.stack_tokens / self.stack_seconds if self.stack_seconds else 0.0

    @property
    def hf_rate(self) -> float:
        return self.hf_tokens / self.hf_seconds if self.hf_seconds else 0.0


async def run_stack(base_url: str, prompts: list[str], concurrency: int, max_tokens: int) -> LevelTimings:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=600)
    try:
        return await run_level(lambda prompt: stream_chat(client, MODEL, prompt, max_tokens), prompts, concurrency)
    finally:
        await client.close()


def run_hf(
    model_dir: str, prompts: list[str], batch: int, max_tokens: int, device: str = "cpu", dtype: str = "float32"
) -> tuple[int, float]:
    """Plain transformers: static batches, left padding, greedy; tokens up to end-of-turn."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = _hf_model(model_dir, AutoModelForCausalLM, torch, device, dtype)
    eos = tokenizer.eos_token_id
    tokens, start = 0, time.perf_counter()
    for i in range(0, len(prompts), batch):
        chats = [[{"role": "user", "content": p}] for p in prompts[i : i + batch]]
        ids = [tokenizer.apply_chat_template(c, add_generation_prompt=True, return_dict=False) for c in chats]
        encoded = tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**encoded, max_new_tokens=max_tokens, do_sample=False, pad_token_id=eos)
        for row in out[:, encoded["input_ids"].shape[1] :].tolist():
            tokens += row.index(eos) + 1 if eos in row else len(row)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return tokens, time.perf_counter() - start


_HF_MODELS: dict[str, object] = {}


def _hf_model(model_dir, auto_model, torch, device="cpu", dtype="float32"):
    if model_dir not in _HF_MODELS:
        if dtype == "auto":  # as the torch engine chooses (engine.model_loader.resolve_dtype)
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        model = auto_model.from_pretrained(model_dir, dtype=getattr(torch, dtype), attn_implementation="sdpa")
        _HF_MODELS[model_dir] = model.to(device).eval()
    return _HF_MODELS[model_dir]


def default_model_dir() -> str:
    from triton_openai.repository.cache import cache_root
    from triton_openai.repository.prepare import ModelSpec, prepare_model

    return str(prepare_model(ModelSpec.parse(MODEL), cache_root()).model_dir)


def measure(args: argparse.Namespace, base_url: str) -> list[LevelResult]:
    model_dir = default_model_dir()
    asyncio.run(run_stack(base_url, PROMPTS[:2], 2, 8))  # warm up
    results = []
    for concurrency in args.concurrency:
        count = args.requests if concurrency > 1 else min(args.requests, args.single_requests)
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(count)]
        level = LevelResult(concurrency, count)
        timed = asyncio.run(run_stack(base_url, prompts, concurrency, args.max_tokens))
        level.stack_seconds, level.stack_tokens = timed.seconds, timed.tokens
        level.ttft = timed.ttft
        level.itl = [g for t in timed.requests for g in t.gaps]
        if not args.skip_hf:
            level.hf_tokens, level.hf_seconds = run_hf(
                model_dir, prompts, concurrency, args.max_tokens, args.hf_device, args.hf_dtype
            )
        results.append(level)
        print(row(level), flush=True)
    return results


HEADER = (
    f"{'conc':>4} {'reqs':>4} {'stack tok/s':>11} {'TTFT p50':>9} {'TTFT p99':>9} {'ITL p50':>8} {'ITL p99':>8}"
    f" {'HF tok/s':>9} {'ratio':>6} {'tokens (stack/HF)':>18}"
)


def row(level: LevelResult) -> str:
    ratio = level.stack_rate / level.hf_rate if level.hf_rate else float("nan")
    return (
        f"{level.concurrency:>4} {level.requests:>4} {level.stack_rate:>11.1f}"
        f" {percentile(level.ttft, 50) * 1000:>7.0f}ms {percentile(level.ttft, 99) * 1000:>7.0f}ms"
        f" {percentile(level.itl, 50) * 1000:>6.0f}ms {percentile(level.itl, 99) * 1000:>6.0f}ms"
        f" {level.hf_rate:>9.1f} {ratio:>5.2f}x {level.stack_tokens:>8}/{level.hf_tokens:<8}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--single-requests", type=int, default=8, help="requests at concurrency 1")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `serve` argument")
    parser.add_argument("--skip-hf", action="store_true", help="no transformers baseline")
    parser.add_argument("--hf-device", default="cpu", help="where the transformers baseline runs (cuda: a GPU)")
    parser.add_argument(
        "--hf-dtype", default="float32", help="the baseline's dtype: float32, bfloat16, float16, or auto (bf16 on GPUs)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    print(f"# {os.cpu_count()} cores; {MODEL}; max_tokens {args.max_tokens}; temperature 0; streamed", flush=True)
    print(HEADER, flush=True)
    if args.url:
        results = measure(args, args.url)
    else:
        from tests.server_process import ServerProcess

        max_seqs = str(max(args.concurrency))
        log_dir = Path(tempfile.mkdtemp(prefix="bench-"))
        with ServerProcess.start(log_dir, "--max-num-seqs", max_seqs, *args.server_arg) as server:
            results = measure(args, server.base_url)
    if args.json:
        args.json.write_text(
            json.dumps([asdict(r) | {"stack_tok_s": r.stack_rate, "hf_tok_s": r.hf_rate} for r in results], indent=1)
        )
    itl = [g for r in results for g in r.itl]
    if itl:
        print(f"# all ITL samples: median {statistics.median(itl) * 1000:.0f}ms over {len(itl)} gaps")


if __name__ == "__main__":
    main()
