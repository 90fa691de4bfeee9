"""A full engine queue answers 429 in the envelope at once, and the server keeps serving."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import MODEL, start_server

LONG = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Tell me a long story."}],
    "max_tokens": 60,
    "ignore_eos": True,
}


@pytest.fixture(scope="module")
def small_server(tmp_path_factory, prepared_model):
    running = start_server(tmp_path_factory.mktemp("small"), "--max-num-seqs", "1", "--max-queue-len", "1")
    yield running
    running.stop()


def test_full_queue_is_429_then_serving_resumes(small_server):
    url = small_server.base_url + "/v1/chat/completions"
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: httpx.post(url, json=LONG, timeout=120), range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2  # one running, one waiting
    rejected = [r for r in responses if r.status_code == 429]
    assert rejected, statuses
    assert rejected[0].json()["error"]["code"] == "server_overloaded"
    assert "retry" in rejected[0].json()["error"]["message"]
    again = httpx.post(url, json={**LONG, "max_tokens": 3}, timeout=60)
    assert again.status_code == 200
