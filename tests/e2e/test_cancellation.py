"""A client that goes away cancels its Triton request and frees the engine's slot."""

from __future__ import annotations

import threading

import httpx

from tests.e2e.conftest import MODEL, wait_for

LLM = f'model="{MODEL}_llm"'
LONG = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Tell me a long story."}],
    "max_tokens": 2000,
}


def hang_up_mid_stream(server, path: str, body: dict, lines: int = 5) -> None:
    """Read a few lines of a stream, hang up, and see the engine drop the request at its next step."""
    cancelled = server.metric("llm_engine_requests_cancelled_total", LLM)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        with http.stream("POST", path, json={**body, "stream": True, "ignore_eos": True}) as response:
            read = response.iter_lines()
            for _ in range(lines):
                next(read)
            assert wait_for(lambda: server.metric("llm_engine_requests_running", LLM) == 1)
    assert wait_for(lambda: server.metric("llm_engine_requests_cancelled_total", LLM) == cancelled + 1)
    assert wait_for(lambda: server.metric("llm_engine_requests_running", LLM) == 0)


def test_disconnect_mid_stream_cancels(server, client):
    hang_up_mid_stream(server, "/v1/chat/completions", LONG)
    assert client.chat.completions.create(model=MODEL, messages=LONG["messages"], max_tokens=2).choices


def test_disconnect_while_waiting_for_a_non_streamed_answer_cancels(server):
    cancelled = server.metric("llm_engine_requests_cancelled_total", LLM)
    generated = server.metric("llm_engine_generation_tokens_total", LLM)

    def call():
        try:
            httpx.post(server.base_url + "/v1/chat/completions", json={**LONG, "ignore_eos": True}, timeout=1.5)
        except httpx.TimeoutException:
            pass  # the client gives up and closes the connection

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    assert wait_for(lambda: server.metric("llm_engine_requests_cancelled_total", LLM) == cancelled + 1)
    assert wait_for(lambda: server.metric("llm_engine_requests_running", LLM) == 0)
    assert server.metric("llm_engine_generation_tokens_total", LLM) - generated < 2000
