"""What the LLM benchmarks share: a streamed chat request timed token by token, a level of
concurrent requests, percentiles, the machine's load, and the memory of a process tree."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field


@dataclass
class RequestTiming:
    ttft: float
    gaps: list[float]
    tokens: int
    text: str = ""
    cached_tokens: int = 0

    @property
    def itl(self) -> float:
        """Seconds per token after the first (genai-perf's inter-token latency): a server may send
        several tokens in one chunk, so the gaps between chunks are not the time per token."""
        return sum(self.gaps) / (self.tokens - 1) if self.gaps and self.tokens > 1 else float("nan")


@dataclass
class LevelTimings:
    concurrency: int
    seconds: float
    requests: list[RequestTiming] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.requests)

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def ttft(self) -> list[float]:
        return [r.ttft for r in self.requests]

    @property
    def itl(self) -> list[float]:
        """Each request's time per token after its first."""
        return [r.itl for r in self.requests if r.gaps and r.tokens > 1]

    @property
    def gaps(self) -> list[float]:
        """Every gap between two chunks of text (its high percentiles: the stalls a reader sees)."""
        return [g for r in self.requests for g in r.gaps]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def stream_chat(client, model: str, prompt: str, max_tokens: int, **extra) -> RequestTiming:
    """One streamed chat request at temperature 0; `extra` goes into the body (extra_body)."""
    start = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        extra_body=extra or None,
    )
    times, tokens, parts, cached = [], 0, [], 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            times.append(time.perf_counter())
            parts.append(chunk.choices[0].delta.content)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
            details = getattr(chunk.usage, "prompt_tokens_details", None)
            cached = (getattr(details, "cached_tokens", 0) or 0) if details else 0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    ttft = (times[0] - start) if times else float("nan")
    return RequestTiming(ttft=ttft, gaps=gaps, tokens=tokens, text="".join(parts), cached_tokens=cached)


async def run_level(request, prompts: list[str], concurrency: int) -> LevelTimings:
    """`request(prompt)` for every prompt, `concurrency` in flight."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for prompt in prompts:
        queue.put_nowait(prompt)
    timings: list[RequestTiming] = []

    async def worker() -> None:
        while not queue.empty():
            timings.append(await request(queue.get_nowait()))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LevelTimings(concurrency, time.perf_counter() - start, timings)


def check_quiet(max_load: float, wait: float = 60.0) -> float:
    """The 1-minute load average once it is below `max_load` (waiting up to `wait` seconds);
    SystemExit if the machine stays busy: spinning threads make a busy machine's figures useless."""
    deadline = time.monotonic() + wait
    while True:
        load = os.getloadavg()[0]
        if load <= max_load:
            return load
        if time.monotonic() > deadline:
            raise SystemExit(f"the machine is busy (load {load:.2f} > {max_load}): run benchmarks alone")
        time.sleep(5)


def tree_rss_mib(pid: int) -> dict[str, float]:
    """Resident memory (MiB) of a process and all its descendants, by command name."""
    import psutil

    root = psutil.Process(pid)
    sizes: dict[str, float] = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            name = _short_name(process.cmdline())
            sizes[name] = sizes.get(name, 0.0) + process.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return sizes


def _short_name(cmdline: list[str]) -> str:
    if not cmdline:
        return "?"
    program = os.path.basename(cmdline[0])
    if program.startswith("triton_python_backend_stub") and len(cmdline) > 1:
        return "stub:" + os.path.basename(os.path.dirname(os.path.dirname(cmdline[1])))
    if program.startswith("python") and "-m" in cmdline:
        return "python -m " + cmdline[cmdline.index("-m") + 1]
    return program
