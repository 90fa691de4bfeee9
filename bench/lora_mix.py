"""What serving LoRA adapters costs: the same load on the base model alone, and spread over
the base model and two adapters in one batch.

Makes two rank-8 adapters with peft on the default model (q/v projections and the MLP), starts
the stack with them (`--lora`), then sends `--requests` streamed chat completions (greedy,
`--max-tokens` each, ignore_eos) with `--concurrency` in flight, twice: all to the base
model, then cycling base / adapter A / adapter B. Prints output tok/s and the ratio.

    .venv/bin/python bench/lora_mix.py --concurrency 8 --requests 32
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.test_lora import make_adapter  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402

MODEL = "smollm2-135m-instruct"


async def run(base_url: str, models: list[str], args: argparse.Namespace) -> float:
    """Output tokens per second with `args.concurrency` requests in flight."""
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=600)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(args.requests):
        queue.put_nowait(models[i % len(models)])
    tokens = 0

    async def worker() -> None:
        nonlocal tokens
        while not queue.empty():
            model = queue.get_nowait()
            stream = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Tell me about the sea."}],
                max_tokens=args.max_tokens,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"ignore_eos": True},
            )
            async for chunk in stream:
                if chunk.usage:
                    tokens += chunk.usage.completion_tokens

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    await client.close()
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from triton_openai.repository.cache import cache_root
    from triton_openai.repository.catalog import DEFAULT_MODEL
    from triton_openai.repository.prepare import ModelSpec, prepare_model

    model_dir = str(prepare_model(ModelSpec.parse(DEFAULT_MODEL), cache_root()).model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        a = make_adapter(model_dir, Path(tmp) / "a", 1, ["q_proj", "v_proj"])
        b = make_adapter(model_dir, Path(tmp) / "b", 2, ["gate_proj", "up_proj", "down_proj"])
        server = ServerProcess.start(
            Path(tmp) / "server",
            *("--embedding-model", "none", "--transcription-model", "none", "--speech-voice", "none"),
            *("--lora", f"a={a}", "--lora", f"b={b}", "--max-num-seqs", str(max(args.concurrency, 8))),
        )
        try:
            figures: dict[str, list[float]] = {"base": [], "mixed": []}
            for _ in range(args.rounds):  # alternate, so that both see the same machine state
                figures["base"].append(asyncio.run(run(server.base_url, [MODEL], args)))
                figures["mixed"].append(asyncio.run(run(server.base_url, [MODEL, "a", "b"], args)))
        finally:
            server.stop()
    base, mixed = max(figures["base"]), max(figures["mixed"])
    print(f"concurrency {args.concurrency}, {args.requests} requests x {args.max_tokens} tokens, best of {args.rounds}")
    rounds = {name: ", ".join(f"{x:.1f}" for x in values) for name, values in figures.items()}
    print(f"  base model only:          {base:6.1f} tok/s  (rounds: {rounds['base']})")
    print(f"  base + adapters a, b mix: {mixed:6.1f} tok/s  (rounds: {rounds['mixed']})")
    print(f"  mixed / base: {mixed / base:.3f}x")


if __name__ == "__main__":
    main()
