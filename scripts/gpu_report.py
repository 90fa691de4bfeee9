"""The GPU check's figures: GPU memory snapshots, and the summary of the tests and the bench.

python3 scripts/gpu_report.py memory STAGE LABEL   # one line of STAGE/memory.csv
python3 scripts/gpu_report.py summary STAGE OUT    # markdown: tests, bench, memory, KV cache
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

_QUERY = "memory.used,memory.total,utilization.gpu"


def memory(stage: Path, label: str) -> None:
    """The GPU's used and total memory (MiB) and utilization now, and each process's memory."""
    if shutil.which("nvidia-smi") is None:
        return
    gpu = subprocess.run(
        ["nvidia-smi", f"--query-gpu={_QUERY}", "--format=csv,noheader,nounits"], capture_output=True, text=True
    ).stdout.strip()
    apps = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(stage / "memory.csv", "a") as out:
        processes = " | ".join(line.replace(",", "") for line in apps.splitlines())
        out.write(f"{label},{gpu},{processes}\n")


def tests(out: Path) -> list[str]:
    junit = out / "tests.xml"
    if not junit.is_file():
        return ["no tests.xml (the tests did not run)"]
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    lines = []
    for case in cases:
        outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        outcome = {"failure": "failed"}.get(outcome, outcome)
        counts[outcome] += 1
        if outcome != "passed":
            message = next((child.get("message", "") for child in case if child.tag != "system-out"), "")
            lines.append(f"- {outcome}: {case.get('classname')}::{case.get('name')}: {message[:300]}")
    return [", ".join(f"{n} {k}" for k, n in counts.items()), *lines]


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return "-"
    return f"{ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000:.0f}"


def bench(out: Path) -> list[str]:
    path = out / "bench.json"
    if not path.is_file():
        return ["no bench.json (the bench did not run)"]
    figures = json.loads(path.read_text())
    triton = {level["concurrency"]: level for level in figures.get("triton", [])}
    lines = [
        "| conc | stack tok/s | TTFT p50/p99 ms | ITL p50/p99 ms | HF generate tok/s | Triton direct tok/s "
        "| Triton TTFT p50/p99 ms | Triton ITL p50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level in sorted(figures.get("stack", []), key=lambda level: level["concurrency"]):
        direct = triton.get(level["concurrency"], {})
        ttft, itl = direct.get("ttft", []), direct.get("itl", [])
        lines.append(
            f"| {level['concurrency']} | {level['stack_tok_s']:.1f}"
            f" | {_ms(level['ttft'], 50)} / {_ms(level['ttft'], 99)}"
            f" | {_ms(level['itl'], 50)} / {_ms(level['itl'], 99)}"
            f" | {level['hf_tok_s']:.1f} | {direct.get('triton_tok_s', float('nan')):.1f}"
            f" | {_ms(ttft, 50)} / {_ms(ttft, 99)} | {_ms(itl, 50)} |"
        )
    for phase, peaks in figures.get("engine_peaks", {}).items():
        shown = ", ".join(f"{name.removeprefix('llm_engine_')} {value:g}" for name, value in sorted(peaks.items()))
        lines.append(f"\npeaks during {phase}: {shown or 'none sampled'}")
    return lines


def engine_figures(stage: Path) -> list[str]:
    lines = []
    for log in sorted((stage / "logs").rglob("*triton*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "KV cache:" in line or "decoder for" in line:
                lines.append(f"- {log.name}: {line.strip()[-200:]}")
    metrics = stage / "logs" / "bench-metrics.txt"
    if metrics.is_file():
        wanted = re.compile(r"^(llm_engine_\w+|nv_gpu_memory_used_bytes)\{")
        lines += [f"- {m}" for m in metrics.read_text().splitlines() if wanted.match(m)]
    return lines or ["no engine figures found in the logs"]


def memory_table(stage: Path) -> list[str]:
    path = stage / "memory.csv"
    if not path.is_file():
        return ["no GPU memory figures (no nvidia-smi)"]
    lines = ["| when | used MiB | total MiB | util % | processes |", "|---|---|---|---|---|"]
    for row in path.read_text().splitlines():
        label, used, total, util, *apps = (cell.strip() for cell in row.split(","))
        lines.append(f"| {label} | {used} | {total} | {util} | {', '.join(apps)} |")
    return lines


def summary(stage: Path, out: Path) -> None:
    sections = [
        ("Tests", tests(out)),
        ("Bench (the stack through the OpenAI SDK; HF generate; Triton direct)", bench(out)),
        ("GPU memory", memory_table(stage)),
        ("The engine (KV cache, weights) and its metrics after the bench", engine_figures(stage)),
    ]
    for title, lines in sections:
        print(f"\n## {title}\n")
        print("\n".join(lines))


def main() -> None:
    command, stage = sys.argv[1], Path(sys.argv[2])
    if command == "memory":
        memory(stage, sys.argv[3])
    elif command == "summary":
        summary(stage, Path(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
