"""/tokenize, /detokenize (vLLM's shapes) and /v1/chat/completions/render on the real stack."""

from __future__ import annotations

from tests.e2e.conftest import MODEL

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


def test_a_prompt_is_tokenized_as_the_model_tokenizer_does(http, tokenizer):
    body = http.post("/tokenize", json={"model": MODEL, "prompt": "Hello world", "return_token_strs": True}).json()
    ids = tokenizer.encode("Hello world")
    assert body == {
        "count": len(ids),
        "max_model_len": 8192,
        "tokens": ids,
        "token_strs": tokenizer.convert_ids_to_tokens(ids),
    }


def test_messages_are_tokenized_through_the_chat_template(http, tokenizer):
    body = http.post("/tokenize", json={"messages": FRANCE}).json()
    assert body["tokens"] == tokenizer.apply_chat_template(FRANCE, add_generation_prompt=True, return_dict=False)
    bare = http.post("/tokenize", json={"messages": FRANCE, "add_generation_prompt": False}).json()
    assert bare["count"] < body["count"] and body["tokens"][: bare["count"]] == bare["tokens"]


def test_detokenize_is_the_inverse(http, tokenizer):
    ids = tokenizer.encode("Grüße, 世界! 🙂")
    assert http.post("/detokenize", json={"model": MODEL, "tokens": ids}).json() == {"prompt": tokenizer.decode(ids)}
    assert http.post("/detokenize", json={"tokens": [10**7]}).status_code == 400


def test_bad_token_requests_get_4xx_in_the_envelope(http):
    for path, body, status in (
        ("/tokenize", {"prompt": "x", "messages": FRANCE}, 400),
        ("/tokenize", {"model": "no-such-model", "prompt": "x"}, 404),
        ("/tokenize", {"messages": FRANCE, "chat_template_kwargs": {"tokenize": True}}, 400),
        ("/detokenize", {"tokens": [-1]}, 400),
    ):
        response = http.post(path, json=body)
        assert response.status_code == status and response.json()["error"]["message"], (path, body)


def test_render_shows_what_a_chat_request_would_send(http, client):
    body = {"model": MODEL, "messages": FRANCE, "response_format": {"type": "json_object"}}
    rendered = http.post("/v1/chat/completions/render", json=body).json()
    assert rendered["prompt"].startswith("<|im_start|>system\n")  # the format hint became a system prompt
    assert "JSON" in rendered["prompt"] and rendered["prompt"].endswith("<|im_start|>assistant\n")
    assert rendered["count"] == len(rendered["token_ids"]) and rendered["max_model_len"] == 8192
    used = client.chat.completions.create(**body, max_tokens=1).usage.prompt_tokens
    assert used == rendered["count"]
