"""/metrics: Prometheus text with request counts, latency histograms, tokens, engine gauges."""

from __future__ import annotations

import re

import openai
import pytest

from tests.e2e.conftest import MODEL


def scrape(http) -> dict[str, float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = {}
    for line in response.text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) ([0-9.eE+-]+)$", line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def value(metrics, name, **labels):
    for key, number in metrics.items():
        if key.split("{")[0] == name and all(f'{k}="{v}"' in key for k, v in labels.items()):
            return number
    return 0.0


def test_generation_is_counted_and_timed(http, client):
    before = scrape(http)
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell me a story."}], max_tokens=12, stream=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
    )  # fmt: skip
    usage = [chunk.usage for chunk in stream if chunk.usage][0]
    after = scrape(http)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("triton_openai_requests_total", endpoint="/v1/chat/completions", status="200") == 1
    assert delta("triton_openai_time_to_first_token_seconds_count", model=MODEL) == 1
    assert delta("triton_openai_inter_token_latency_seconds_count", model=MODEL) == 11
    assert delta("triton_openai_request_latency_seconds_count", model=MODEL) == 1
    assert delta("triton_openai_generation_tokens_total", model=MODEL) == usage.completion_tokens == 12
    assert delta("triton_openai_prompt_tokens_total", model=MODEL) == usage.prompt_tokens
    assert value(after, "triton_openai_requests_in_progress", model=MODEL) == 0


def test_errors_are_counted_by_status(http, client):
    before = value(scrape(http), "triton_openai_requests_total", endpoint="/v1/chat/completions", status="400")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[], max_tokens=1)
    after = value(scrape(http), "triton_openai_requests_total", endpoint="/v1/chat/completions", status="400")
    assert after == before + 1


def test_engine_gauges_come_from_triton(http):
    metrics = scrape(http)
    assert f'triton_openai_engine_requests_running{{model="{MODEL}_llm"}}' in metrics
    assert f'triton_openai_engine_requests_waiting{{model="{MODEL}_llm"}}' in metrics
