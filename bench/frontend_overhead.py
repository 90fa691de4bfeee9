"""What the OpenAI frontend costs: the same load straight to Triton and through the frontend.

genai-perf (installed by bench/setup.sh into .venv-bench) sends the same synthetic prompts
(fixed input and output lengths, ignore_eos) three ways, alternating for `--rounds`:
- kserve:      the ensemble over Triton's gRPC streaming API (TensorRT-LLM input format)
- completions: /v1/completions through the frontend (the same prompt text)
- chat:        /v1/chat/completions through the frontend (the prompt in the chat template)
and prints output tok/s, TTFT and ITL medians over the rounds, and the ratios of
completions (like for like) and chat to kserve.

    .venv/bin/python bench/frontend_overhead.py --concurrency 8 --requests 32
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "smollm2-135m-instruct"
MODES = ("kserve", "completions", "chat")


def bench_environment() -> dict[str, str]:
    """bench/setup.sh prints `export PATH=... LD_LIBRARY_PATH=...`; apply it."""
    line = (
        subprocess.run([str(ROOT / "bench" / "setup.sh")], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    env = dict(os.environ)
    for assignment in line.removeprefix("export ").split(" "):
        key, value = assignment.split("=", 1)
        env[key] = os.path.expandvars(value.replace("${LD_LIBRARY_PATH:-}", env.get("LD_LIBRARY_PATH", "")))
    return env


def genai_perf(mode: str, server, args: argparse.Namespace, tokenizer: str, out: Path, env: dict) -> dict:
    if mode == "kserve":
        target = ["--backend", "tensorrtllm", "--endpoint-type", "kserve", "-u", server.grpc_url]
    else:
        target = ["--endpoint-type", mode, "-u", server.base_url.removeprefix("http://")]
    command = [
        "genai-perf", "profile", "-m", MODEL, *target, "--streaming",
        "--tokenizer", tokenizer,
        "--concurrency", str(args.concurrency), "--request-count", str(args.requests),
        "--synthetic-input-tokens-mean", str(args.input_tokens), "--synthetic-input-tokens-stddev", "0",
        "--output-tokens-mean", str(args.output_tokens), "--output-tokens-stddev", "0",
        "--extra-inputs", "ignore_eos:true", "--random-seed", "7",
        "--artifact-dir", str(out),
    ]  # fmt: skip
    subprocess.run(command, check=True, env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    report = json.loads(next(out.rglob("profile_export_genai_perf.json")).read_text())
    return {
        "tok_s": report["output_token_throughput"]["avg"],
        "ttft_p50": report["time_to_first_token"]["p50"],
        "ttft_p99": report["time_to_first_token"]["p99"],
        "itl_p50": report["inter_token_latency"]["p50"],
        "osl": report["output_sequence_length"]["avg"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--input-tokens", type=int, default=64)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; medians are printed")
    args = parser.parse_args()

    from bench.llm_throughput import default_model_dir
    from tests.server_process import ServerProcess

    env = bench_environment()
    tokenizer = default_model_dir()
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with ServerProcess.start(work, "--max-num-seqs", str(max(8, args.concurrency))) as server:
        for round_ in range(args.rounds):
            for mode in MODES:
                runs[mode].append(genai_perf(mode, server, args, tokenizer, work / f"{mode}-{round_}", env))
    print(
        f"# {os.cpu_count()} cores; {MODEL}; concurrency {args.concurrency}; {args.requests} requests;"
        f" {args.input_tokens} in / {args.output_tokens} out tokens; medians of {args.rounds} rounds"
    )
    header = ("path", "tok/s", "TTFT p50", "TTFT p99", "ITL p50", "tok/s ratio", "TTFT ratio")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (12, 7, 9, 9, 8, 11, 10), strict=True)))
    base = {key: statistics.median(r[key] for r in runs["kserve"]) for key in runs["kserve"][0]}
    for mode in MODES:
        m = {key: statistics.median(r[key] for r in runs[mode]) for key in runs[mode][0]}
        print(
            f"{mode:>12} {m['tok_s']:>7.1f} {m['ttft_p50']:>7.0f}ms {m['ttft_p99']:>7.0f}ms {m['itl_p50']:>6.0f}ms"
            f" {m['tok_s'] / base['tok_s']:>10.3f}x {m['ttft_p50'] / base['ttft_p50']:>9.3f}x"
        )


if __name__ == "__main__":
    main()
