"""The GPU check's bench: one server (the LLM alone, on the check's device), then
bench/llm_throughput.py (the stack through the OpenAI SDK, and HF generate on the same device)
and bench/triton_direct.py (the same requests straight to its Triton), level by level.

    python3 scripts/gpu_bench.py STAGE OUT/bench.json --device cuda [--dry-run]

Writes the figures of both, the GPU memory at each stage (STAGE/memory.csv) and the server's
engine metrics after the load (STAGE/logs/bench-metrics.txt).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from gpu_report import memory

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.server_process import ServerProcess  # noqa: E402

# (what, concurrency, requests), in the order they run: the stack (with HF generate) and Triton
# direct side by side at 1, 32 and 128 first, then the stack at 8 and 64; one wave of requests
# (two at 8). Each is its own bench run, so a run stopped at its time limit keeps the levels
# done before it.
FULL = [
    ("stack", 1, 4), ("triton", 1, 4), ("stack", 32, 32), ("triton", 32, 32), ("stack", 128, 128),
    ("triton", 128, 128), ("stack", 8, 16), ("stack", 64, 64),
]  # fmt: skip
DRY = [("stack", 2, 4), ("triton", 2, 4)]
SCRIPTS = {"stack": "llm_throughput.py", "triton": "triton_direct.py"}


# The engine's gauges on Triton's metrics port, sampled while a bench runs (their peaks).
_GAUGES = re.compile(r"^(llm_engine_(?:kv_cache_usage|requests_running|requests_waiting))\{.*\} (\S+)$")


class GaugePeaks(threading.Thread):
    """The highest value of each engine gauge, sampled every 0.2 s until `stop()`."""

    def __init__(self, metrics_url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.peaks, self._done = metrics_url, {}, threading.Event()
        self.start()

    def run(self) -> None:
        while not self._done.wait(0.2):
            try:
                text = urllib.request.urlopen(self.url, timeout=2).read().decode()
            except OSError:
                continue
            for line in text.splitlines():
                found = _GAUGES.match(line)
                if found:
                    self.peaks[found[1]] = max(self.peaks.get(found[1], 0.0), float(found[2]))

    def stop(self) -> dict[str, float]:
        self._done.set()
        self.join()
        return self.peaks


def run_bench(key: str, target: list[str], concurrency: int, requests: int, args, json_file: Path) -> list:
    command = [sys.executable, str(REPO / "bench" / SCRIPTS[key]), *target, "--concurrency", str(concurrency)]
    command += ["--requests", str(requests), "--single-requests", str(requests), "--max-tokens", str(args.max_tokens)]
    if key == "stack":
        command += ["--hf-device", args.device, "--hf-dtype", "auto"]
    subprocess.run([*command, "--json", str(json_file)], check=True)
    return json.loads(json_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", type=Path)
    parser.add_argument("json", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true", help="two low levels, short answers (the CPU)")
    args = parser.parse_args()
    plan = DRY if args.dry_run else FULL
    args.max_tokens = 16 if args.dry_run else 128
    logs = args.stage / "logs" / "bench"
    figures: dict = {"stack": [], "triton": [], "engine_peaks": {}}
    max_seqs = max(concurrency for _, concurrency, _ in plan)
    server = ServerProcess.start(logs, "--max-num-seqs", str(max_seqs), "--device", args.device, timeout=300)
    targets = {"stack": ["--url", server.base_url], "triton": ["--grpc-url", server.grpc_url]}
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    try:
        memory(args.stage, "bench-server-up")
        for key, concurrency, requests in plan:
            peaks = GaugePeaks(url)
            figures[key] += run_bench(key, targets[key], concurrency, requests, args, logs / f"{key}.json")
            figures["engine_peaks"][f"{key} at {concurrency}"] = peaks.stop()
            args.json.write_text(json.dumps(figures, indent=1))
            if concurrency == max_seqs:
                memory(args.stage, f"after {key} at {concurrency}")
        (args.stage / "logs" / "bench-metrics.txt").write_text(urllib.request.urlopen(url, timeout=10).read().decode())
    finally:  # also on SIGINT (the check's time limit): the levels done so far are kept
        args.json.write_text(json.dumps(figures, indent=1))
        server.stop()


if __name__ == "__main__":
    main()
