"""One oversized request does not stall the others: JSON bodies have their own limit, a prompt
that cannot fit is refused before it is tokenized, and a long tokenization holds up one of
the tokenizer's instances only."""

from __future__ import annotations

import threading
import time
from http.client import HTTPConnection

import httpx
import openai
import pytest

from tests.e2e.conftest import MODEL

# 8192 tokens × 81 characters (SmolLM2's longest vocabulary entry), escaped, plus 1 MiB
JSON_LIMIT = 8192 * 81 * 6 + 1024 * 1024


def test_json_bodies_have_their_own_limit_and_uploads_keep_theirs(server, http):
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("POST", "/v1/chat/completions")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(JSON_LIMIT + 1))
    connection.endheaders()  # the body is never sent: the declared length is refused
    response = connection.getresponse()
    assert response.status == 413 and str(JSON_LIMIT) in response.read().decode()
    connection.close()
    upload = http.post("/v1/files", files={"file": ("big.jsonl", b"x" * (JSON_LIMIT + 1))}, data={"purpose": "batch"})
    assert upload.status_code == 200
    assert http.delete(f"/v1/files/{upload.json()['id']}").status_code == 200


def test_a_prompt_longer_than_any_context_is_refused_untokenized(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a" * 700_000}], max_tokens=1)
    assert info.value.code == "context_length_exceeded" and "700000 characters" in info.value.message


def test_a_small_request_is_answered_beside_a_huge_one(server):
    # Under the character bound, so it is tokenized (seconds: about 1.4M tokens), then refused on its count.
    huge = "".join(chr(0x4E00 + i % 2000) for i in range(600_000))
    finished: list[tuple[str, int]] = []

    def send(name: str, content: str) -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": 2, "temperature": 0}
        response = httpx.post(server.base_url + "/v1/chat/completions", json=body, timeout=300)
        finished.append((name, response.status_code))

    big = threading.Thread(target=send, args=("huge", huge))
    big.start()
    time.sleep(0.5)  # its body is in; its prompt is being tokenized
    send("small", "Hi")
    big.join()
    assert finished == [("small", 200), ("huge", 400)]
