"""Prometheus metrics of the frontend, served on its /metrics.

Request counts by endpoint and status, time to first token, inter-token latency and
end-to-end latency histograms, token counters, requests in progress; and the engine's
queue depth and running batch size, read from Triton's own metrics at scrape time
(Triton keeps serving all of its metrics on its metrics port).

With several uvicorn workers, prometheus_client's multiprocess mode aggregates them:
the launcher sets PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

logger = logging.getLogger(__name__)

PREFIX = "triton_openai"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_TOKEN_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5)
# Engine gauges read from Triton: (Triton's name, ours).
_ENGINE_GAUGES = (
    ("llm_engine_requests_running", f"{PREFIX}_engine_requests_running", "Requests in the engine's running batch"),
    ("llm_engine_requests_waiting", f"{PREFIX}_engine_requests_waiting", "Requests waiting for a batch slot"),
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, triton_metrics_url: str | None = None) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        if self.multiprocess:
            multiprocess.MultiProcessCollector(self.registry)
        registry = None if self.multiprocess else self.registry
        self.requests = Counter(
            f"{PREFIX}_requests_total",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=registry,
        )
        self.in_progress = Gauge(
            f"{PREFIX}_requests_in_progress",
            "Generation requests being answered",
            ["model"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.ttft = Histogram(
            f"{PREFIX}_time_to_first_token_seconds",
            "Time from request to first generated text",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.itl = Histogram(
            f"{PREFIX}_inter_token_latency_seconds",
            "Time between generated tokens of a choice",
            ["model"],
            buckets=_TOKEN_BUCKETS,
            registry=registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_request_latency_seconds",
            "Time from request to last token",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter(f"{PREFIX}_prompt_tokens_total", "Prompt tokens", ["model"], registry=registry)
        self.generation_tokens = Counter(
            f"{PREFIX}_generation_tokens_total", "Generated tokens", ["model"], registry=registry
        )
        if triton_metrics_url:
            self.registry.register(_TritonEngineCollector(triton_metrics_url))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def timer(self, model: str) -> GenerationTimer:
        return GenerationTimer(self, model)


class GenerationTimer:
    """Times one generation request: its first token, the gaps between tokens, its end."""

    def __init__(self, metrics: Metrics, model: str) -> None:
        self.metrics = metrics
        self.model = model
        self.start = time.perf_counter()
        self.last: dict[int, float] = {}
        metrics.in_progress.labels(model).inc()
        self._done = False

    def chunk(self, index: int, tokens: int) -> None:
        """Choice `index` received `tokens` new tokens (several when a character spans tokens)."""
        if tokens <= 0:
            return
        now = time.perf_counter()
        if not self.last:
            self.metrics.ttft.labels(self.model).observe(now - self.start)
        previous = self.last.get(index)
        if previous is not None:
            gap = (now - previous) / tokens
            for _ in range(tokens):
                self.metrics.itl.labels(self.model).observe(gap)
        self.last[index] = now

    def finish(self, prompt_tokens: int, generated_tokens: int) -> None:
        if self._done:
            return
        self._done = True
        self.metrics.in_progress.labels(self.model).dec()
        self.metrics.latency.labels(self.model).observe(time.perf_counter() - self.start)
        self.metrics.prompt_tokens.labels(self.model).inc(prompt_tokens)
        self.metrics.generation_tokens.labels(self.model).inc(generated_tokens)


class _TritonEngineCollector:
    """The engine's batch and queue gauges, read from Triton's metrics when scraped."""

    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self) -> Iterator[Any]:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                text = response.read().decode()
        except OSError as exc:
            logger.debug("cannot read Triton metrics at %s: %s", self.url, exc)
            return
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for source, name, description in _ENGINE_GAUGES:
            gauge = GaugeMetricFamily(name, description, labels=["model"])
            for sample in families[source].samples if source in families else []:
                gauge.add_metric([sample.labels.get("model", "")], sample.value)
            yield gauge


class RequestCounter:
    """ASGI middleware: counts HTTP requests by route template and status code."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(endpoint, str(status)).inc()
