"""Bad input gets OpenAI's error envelope with the right status, and the server keeps serving."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.conftest import MODEL

USER = [{"role": "user", "content": "hi"}]


def assert_still_serving(client):
    response = client.chat.completions.create(model=MODEL, messages=USER, max_tokens=2)
    assert response.choices[0].message.content is not None


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"temperature": 5}, "temperature"),
        ({"n": 0}, "n"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"top_p": 2}, "top_p"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "nobody", "content": "x"}]}, "messages.0.role"),
        ({"extra_body": {"top_k": -5}}, "top_k"),
        ({"extra_body": {"min_tokens": 10}, "max_tokens": 5}, None),
    ],
)
def test_invalid_values_are_400(client, kwargs, param):
    kwargs = {"model": MODEL, "messages": USER, **kwargs}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**kwargs)
    error = info.value.body
    assert info.value.status_code == 400
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if param:
        assert error["param"] == param
    assert_still_serving(client)


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=USER)
    assert info.value.body["code"] == "model_not_found"
    assert "no-such-model" in info.value.body["message"]
    assert_still_serving(client)


def test_too_long_for_the_context_is_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=USER, max_tokens=100_000)
    assert "maximum context length" in info.value.body["message"]
    assert info.value.code == "context_length_exceeded"  # OpenAI's code, from the engine's tagged error
    with pytest.raises(openai.BadRequestError) as streamed:
        client.chat.completions.create(model=MODEL, messages=USER, max_tokens=100_000, stream=True)
    assert streamed.value.code == "context_length_exceeded"
    assert_still_serving(client)


def test_completions_validation(client):
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=MODEL, prompt=[], max_tokens=3)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=MODEL, prompt="x", best_of=3)
    assert_still_serving(client)


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b'{"model": "x", "messages": [', "application/json"),
        (b"not json at all", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"", "application/json"),
    ],
)
def test_malformed_bodies_are_400(http, client, body, content_type):
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert_still_serving(client)


def test_wrong_method_is_an_envelope(http):
    response = http.get("/v1/chat/completions")
    assert response.status_code == 405
    assert "error" in response.json()
