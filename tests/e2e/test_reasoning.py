"""Reasoning split out of the answer: `<think>...</think>` into reasoning_content, streamed too.

The default model does not reason; a guided regex makes it write a think block, and a
second frontend on the session's Triton splits reasoning for every model
(`--reasoning-parser think`; models whose template uses <think> get it by default).
"""

from __future__ import annotations

import openai
import pytest

from tests.e2e.conftest import MODEL, start_server

THINKING = r"<think>[a-z ]{8,40}</think>[A-Z][a-z ]{3,30}\."
ASK = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def thinking(server, tmp_path_factory):
    running = start_server(
        tmp_path_factory.mktemp("thinking"), "--triton-url", server.grpc_url, "--reasoning-parser", "think"
    )
    yield openai.OpenAI(base_url=running.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=120)
    running.stop()


def ask(client, **kwargs):
    return client.chat.completions.create(
        model=MODEL, messages=ASK, max_tokens=60, temperature=0, extra_body={"guided_regex": THINKING}, **kwargs
    )


def test_reasoning_goes_into_reasoning_content(thinking, client):
    raw = ask(client).choices[0].message.content  # the session server: no split for this model
    thoughts, answer = raw[len("<think>") :].split("</think>")
    response = ask(thinking)
    message = response.choices[0].message
    assert message.model_extra["reasoning_content"] == thoughts.strip() and message.content == answer
    details = response.usage.completion_tokens_details
    assert 0 < details.reasoning_tokens < response.usage.completion_tokens


def test_streamed_reasoning_deltas_join_into_the_whole(thinking):
    whole = ask(thinking)
    chunks = list(ask(thinking, stream=True, stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join(d.model_extra.get("reasoning_content") or "" for d in deltas)
    content = "".join(d.content or "" for d in deltas)
    assert reasoning == whole.choices[0].message.model_extra["reasoning_content"]
    assert content == whole.choices[0].message.content
    first_answer = next(i for i, d in enumerate(deltas) if d.content)
    assert all(not d.model_extra.get("reasoning_content") for d in deltas[first_answer:])  # reasoning came first
    assert (
        chunks[-1].usage.completion_tokens_details.reasoning_tokens
        == whole.usage.completion_tokens_details.reasoning_tokens
    )
