"""/v1/completions through the openai package, on the real stack."""

from __future__ import annotations

from tests.e2e.conftest import MODEL

PROMPT = "The capital of France is"


def complete(client, prompt=PROMPT, **kwargs):
    kwargs.setdefault("model", MODEL)
    return client.completions.create(prompt=prompt, **kwargs)


def test_single_prompt(client, tokenizer):
    response = complete(client, max_tokens=8, temperature=0)
    assert response.object == "text_completion" and response.id.startswith("cmpl-")
    choice = response.choices[0]
    assert choice.index == 0 and choice.finish_reason == "length"
    assert "Paris" in choice.text
    assert response.usage.prompt_tokens == len(tokenizer.encode(PROMPT))
    assert response.usage.completion_tokens == 8
    assert response.system_fingerprint.startswith("fp_")


def test_default_max_tokens_is_16(client):
    response = complete(client, "Once upon a time", temperature=0, extra_body={"ignore_eos": True})
    assert response.usage.completion_tokens == 16


def test_list_of_prompts_with_n(client):
    prompts = ["1, 2, 3,", "The capital of France is"]
    response = complete(client, prompts, n=2, max_tokens=6, temperature=0)
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    assert response.choices[0].text == response.choices[1].text  # greedy: both choices agree
    assert response.choices[0].text.startswith(" 4")
    assert "Paris" in response.choices[2].text
    assert response.usage.completion_tokens == 24


def test_echo_prepends_the_prompt(client):
    plain = complete(client, max_tokens=5, temperature=0).choices[0].text
    echoed = complete(client, max_tokens=5, temperature=0, echo=True).choices[0].text
    assert echoed == PROMPT + plain


def test_streaming_matches_and_echoes(client):
    full = complete(client, max_tokens=12, temperature=0).choices[0].text
    chunks = list(
        complete(
            client,
            max_tokens=12,
            temperature=0,
            stream=True,
            echo=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].text == PROMPT
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == PROMPT + full
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12


def test_stop_and_min_tokens_and_ignore_eos(client):
    stopped = complete(client, "1, 2, 3, 4,", max_tokens=20, temperature=0, stop=[" 7"])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].text == " 5, 6,"
    forced = complete(client, PROMPT, max_tokens=30, temperature=0, extra_body={"ignore_eos": True, "min_tokens": 30})
    assert forced.usage.completion_tokens == 30


def test_seeded_sampling_repeats(client):
    first = complete(client, max_tokens=15, temperature=1.0, seed=11).choices[0].text
    assert complete(client, max_tokens=15, temperature=1.0, seed=11).choices[0].text == first


def test_stop_reason_on_every_choice_and_chunk(client):
    stopped = complete(client, "1, 2, 3, 4,", max_tokens=20, temperature=0, stop=[" 7"]).choices[0]
    assert stopped.finish_reason == "stop" and stopped.model_extra["stop_reason"] == " 7"
    limited = complete(client, max_tokens=3, temperature=0).choices[0]
    assert limited.finish_reason == "length" and limited.model_extra["stop_reason"] is None
    chunks = list(complete(client, "1, 2, 3, 4,", max_tokens=20, temperature=0, stop=[" 7"], stream=True))
    assert [c.choices[0].model_extra["stop_reason"] for c in chunks][-2:] == [None, " 7"]
    assert all("stop_reason" in c.choices[0].model_extra for c in chunks)  # null until the last, as vLLM


def test_continuous_usage_stats(client, tokenizer):
    options = {"include_usage": True, "continuous_usage_stats": True}
    chunks = list(complete(client, max_tokens=4, temperature=0, stream=True, echo=True, stream_options=options))
    prompt = len(tokenizer.encode(PROMPT))
    assert all(c.usage is not None and c.usage.prompt_tokens == prompt for c in chunks)
    counts = [c.usage.completion_tokens for c in chunks if c.choices]
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] == 4  # the echo first, then each token
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
