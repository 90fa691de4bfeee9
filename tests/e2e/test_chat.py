"""/v1/chat/completions through the openai package, on the real stack."""

from __future__ import annotations

import json
import re

import openai
import pytest

from tests.e2e.conftest import MODEL

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
STORY = [{"role": "user", "content": "Tell me a long story about a dragon."}]


def chat(client, messages=FRANCE, **kwargs):
    kwargs.setdefault("model", MODEL)
    return client.chat.completions.create(messages=messages, **kwargs)


def stream_text(client, messages=FRANCE, **kwargs):
    chunks = list(chat(client, messages, stream=True, **kwargs))
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


def prompt_tokens(tokenizer, messages):
    return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False))


def test_non_streaming_answer(client):
    response = chat(client, temperature=0, max_tokens=30)
    assert response.object == "chat.completion"
    assert response.id.startswith("chatcmpl-")
    assert response.model == MODEL
    choice = response.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant"
    assert "Paris" in choice.message.content
    assert choice.finish_reason == "stop"


def test_streaming_sse_frames(http):
    body = {"model": MODEL, "messages": FRANCE, "stream": True, "temperature": 0, "max_tokens": 20}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in chunks[0]


def test_temperature_zero_stream_equals_non_stream(client):
    full = chat(client, STORY, temperature=0, max_tokens=40).choices[0].message.content
    streamed, chunks = stream_text(client, STORY, temperature=0, max_tokens=40)
    assert streamed == full
    assert len(chunks) > 10  # it really streamed


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_length_finish_and_exact_usage(client, tokenizer, limit):
    response = chat(client, STORY, temperature=0, **{limit: 7})
    assert response.choices[0].finish_reason == "length"
    usage = response.usage
    assert usage.completion_tokens == 7
    assert usage.prompt_tokens == prompt_tokens(tokenizer, STORY)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_eos_finish_is_stop_and_counts_the_tokens(client, tokenizer):
    response = chat(client, temperature=0, max_tokens=50)
    assert response.choices[0].finish_reason == "stop"
    text = response.choices[0].message.content
    # The answer's tokens plus the end-of-turn token.
    assert response.usage.completion_tokens == len(tokenizer.encode(text, add_special_tokens=False)) + 1


@pytest.mark.parametrize("stop", ["Paris", ["Paris"], ["zzz", "yyy", "xxx", "Paris"]])
def test_stop_strings(client, stop):
    response = chat(client, temperature=0, max_tokens=30, stop=stop)
    choice = response.choices[0]
    assert choice.finish_reason == "stop"
    assert "Paris" not in choice.message.content
    assert choice.message.content.startswith("The capital of France is")


def test_stop_string_when_streaming(client):
    text, chunks = stream_text(client, temperature=0, max_tokens=30, stop=[" Paris"])
    assert text == "The capital of France is"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stop_reason_names_the_stop_string_as_vllm_does(client):
    stopped = chat(client, temperature=0, max_tokens=30, stop=["zzz", " Paris"]).choices[0]
    assert stopped.finish_reason == "stop" and stopped.model_extra["stop_reason"] == " Paris"
    for natural in (chat(client, temperature=0, max_tokens=50), chat(client, STORY, temperature=0, max_tokens=3)):
        assert "stop_reason" in natural.choices[0].model_extra  # sent on every choice, null here
        assert natural.choices[0].model_extra["stop_reason"] is None
    _, chunks = stream_text(client, temperature=0, max_tokens=30, stop=[" Paris"])
    assert (
        chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].choices[0].model_extra["stop_reason"] == " Paris"
    )
    assert all("stop_reason" not in c.choices[0].model_extra for c in chunks[:-1])  # on the last chunk only


def test_stop_reason_is_the_stop_token_id_that_ended_the_answer(client, tokenizer):
    (paris,) = tokenizer.encode(" Paris", add_special_tokens=False)
    stopped = chat(client, temperature=0, max_tokens=30, extra_body={"stop_token_ids": [paris]}).choices[0]
    assert stopped.finish_reason == "stop" and stopped.model_extra["stop_reason"] == paris
    _, chunks = stream_text(client, temperature=0, max_tokens=30, extra_body={"stop_token_ids": [paris]})
    assert chunks[-1].choices[0].model_extra["stop_reason"] == paris


def test_continuous_usage_stats_put_each_choices_usage_on_every_chunk(client, tokenizer):
    options = {"include_usage": True, "continuous_usage_stats": True}
    _, chunks = stream_text(client, STORY, n=2, temperature=0, max_tokens=5, stream_options=options)
    prompt = prompt_tokens(tokenizer, STORY)
    assert all(c.usage is not None and c.usage.prompt_tokens == prompt for c in chunks)
    assert [c.usage.completion_tokens for c in chunks[:2]] == [0, 0]  # each choice opens with its role
    for index in (0, 1):
        counts = [c.usage.completion_tokens for c in chunks if c.choices and c.choices[0].index == index]
        assert counts == sorted(counts) and counts[-1] == 5  # its own tokens so far, up to its finish
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == 10 and last.usage.prompt_tokens == prompt
    _, plain = stream_text(client, STORY, temperature=0, max_tokens=5, stream_options={"continuous_usage_stats": True})
    assert all(c.usage is None for c in plain)  # without include_usage, no usage at all


def test_include_usage_adds_a_final_usage_chunk(client, tokenizer):
    _, chunks = stream_text(client, STORY, temperature=0, max_tokens=5, stream_options={"include_usage": True})
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == 5
    assert last.usage.prompt_tokens == prompt_tokens(tokenizer, STORY)
    assert all(c.usage is None for c in chunks[:-1])


def test_n_choices(client):
    response = chat(client, STORY, n=3, temperature=1.0, seed=5, max_tokens=12)
    assert [c.index for c in response.choices] == [0, 1, 2]
    texts = {c.message.content for c in response.choices}
    assert len(texts) > 1  # each choice samples with its own seed
    assert response.usage.completion_tokens == 36


def test_n_choices_streaming(client):
    chunks = list(chat(client, STORY, n=2, temperature=1.0, seed=5, max_tokens=12, stream=True))
    texts = {0: "", 1: ""}
    finished = set()
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished.add(choice.index)
    assert finished == {0, 1}
    non_streamed = chat(client, STORY, n=2, temperature=1.0, seed=5, max_tokens=12)
    assert [texts[0], texts[1]] == [c.message.content for c in non_streamed.choices]


def test_seed_repeats_sampled_output(client):
    first = chat(client, STORY, temperature=1.0, seed=1234, max_tokens=20).choices[0].message.content
    again = chat(client, STORY, temperature=1.0, seed=1234, max_tokens=20).choices[0].message.content
    other = chat(client, STORY, temperature=1.0, seed=4321, max_tokens=20).choices[0].message.content
    assert first == again
    assert first != other


@pytest.mark.parametrize("seed", [None, 0])
def test_no_seed_or_zero_is_random_each_time(client, seed):
    texts = {
        chat(client, STORY, temperature=1.0, seed=seed, max_tokens=20).choices[0].message.content for _ in range(3)
    }
    assert len(texts) > 1


def test_sampling_parameters_reach_the_engine(client):
    greedy = chat(client, STORY, temperature=0, max_tokens=25).choices[0].message.content
    hot = chat(client, STORY, temperature=1.5, seed=7, max_tokens=25).choices[0].message.content
    nucleus = chat(client, STORY, temperature=1.5, seed=7, top_p=0.01, max_tokens=25).choices[0].message.content
    assert hot != greedy
    assert nucleus == greedy  # a tiny nucleus leaves only the most likely token


def test_penalties_change_the_output(client):
    plain = chat(client, STORY, temperature=0, max_tokens=40).choices[0].message.content
    frequency = chat(client, STORY, temperature=0, max_tokens=40, frequency_penalty=2.0).choices[0].message.content
    presence = chat(client, STORY, temperature=0, max_tokens=40, presence_penalty=2.0).choices[0].message.content
    assert frequency != plain
    assert presence != plain


def test_model_may_be_omitted(http):
    response = http.post("/v1/chat/completions", json={"messages": FRANCE, "max_tokens": 5})
    assert response.status_code == 200
    assert response.json()["model"] == MODEL


def test_system_fingerprint_is_stable(client):
    first = chat(client, max_tokens=2).system_fingerprint
    assert first and first.startswith("fp_")
    assert chat(client, max_tokens=2).system_fingerprint == first


def test_ignore_eos_and_min_tokens(client):
    natural = chat(client, temperature=0, max_tokens=40)
    assert natural.choices[0].finish_reason == "stop"
    forced = chat(client, temperature=0, max_tokens=40, extra_body={"ignore_eos": True})
    assert forced.usage.completion_tokens == 40 and forced.choices[0].finish_reason == "length"
    floor = natural.usage.completion_tokens + 6
    longer = chat(client, temperature=0, max_tokens=40, extra_body={"min_tokens": floor})
    assert longer.usage.completion_tokens >= floor


def test_roles_names_and_content_parts_render_with_the_template(client, tokenizer):
    messages = [
        {"role": "developer", "content": "You answer in one word."},
        {
            "role": "user",
            "name": "ann",
            "content": [{"type": "text", "text": "Capital of"}, {"type": "text", "text": "Italy?"}],
        },
        {"role": "assistant", "content": "Rome."},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'},
        {"role": "user", "content": "And Spain?"},
    ]
    response = chat(client, messages, temperature=0, max_tokens=5)
    rendered = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "name": "ann", "content": "Capital of\nItaly?"},
        {"role": "assistant", "content": "Rome."},
        # A template without tool support gets tool results in <tool_response> tags.
        {"role": "tool", "tool_call_id": "call_1", "content": '<tool_response>\n{"ok": true}\n</tool_response>'},
        {"role": "user", "content": "And Spain?"},
    ]
    assert response.usage.prompt_tokens == prompt_tokens(tokenizer, rendered)


def test_h2ogpt_extra_body_fields(client, tokenizer):
    with_prompt = chat(client, max_tokens=1, extra_body={"system_prompt": "You are a pirate."})
    expected = [{"role": "system", "content": "You are a pirate."}, *FRANCE]
    assert with_prompt.usage.prompt_tokens == prompt_tokens(tokenizer, expected)
    greedy = chat(client, STORY, temperature=0, max_tokens=20).choices[0].message.content
    top_k_one = chat(client, STORY, temperature=1.5, seed=3, max_tokens=20, extra_body={"top_k": 1})
    assert top_k_one.choices[0].message.content == greedy
    repeated = chat(client, STORY, temperature=0, max_tokens=20, extra_body={"repetition_penalty": 1.8})
    assert repeated.choices[0].message.content != greedy


def test_unknown_fields_are_ignored(client):
    response = chat(client, max_tokens=3, extra_body={"a_field_from_the_future": {"x": [1, 2]}, "user": "u-1"})
    assert response.choices[0].message.content


def test_the_model_default_sampling_applies_where_the_request_sets_none(client):
    # SmolLM2 ships its model card's temperature 0.2 and top_p 0.9 (generation_config.json).
    default = chat(client, STORY, seed=21, max_tokens=24).choices[0].message.content
    assert chat(client, STORY, seed=21, max_tokens=24, temperature=0.2, top_p=0.9).choices[0].message.content == default
    hot = {
        chat(client, STORY, seed=21 + i, max_tokens=24, temperature=1.5).choices[0].message.content for i in range(3)
    }
    assert default not in hot


def test_the_readme_example_streams_a_short_good_answer(client):
    # The README's first example: no temperature, no max_tokens (the model's defaults bound it).
    question = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
    stream = client.chat.completions.create(model=MODEL, messages=question, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text and chunks[-1].choices[0].finish_reason == "stop"


def test_logit_bias(client, tokenizer):
    (paris,) = tokenizer.encode(" Paris", add_special_tokens=False)
    forced = chat(client, temperature=0, max_tokens=3, logit_bias={str(paris): 100})
    assert forced.choices[0].message.content == " Paris" * 3
    plain = chat(client, temperature=0, max_tokens=30).choices[0].message.content
    banned = chat(client, temperature=0, max_tokens=30, logit_bias={str(paris): -100}).choices[0].message.content
    assert " Paris" in plain and " Paris" not in banned
    completion = client.completions.create(
        model=MODEL, prompt="Hi", max_tokens=2, temperature=0, logit_bias={str(paris): 100}
    )
    assert completion.choices[0].text == " Paris" * 2
    for bias, fragment in (
        ({"49152": 5}, "outside the vocabulary"),
        ({"1": 101}, "[-100, 100]"),
        ({"x": 1}, "token ids"),
    ):
        with pytest.raises(openai.BadRequestError, match=re.escape(fragment)):
            chat(client, max_tokens=2, logit_bias=bias)


def test_usage_reports_cached_and_reasoning_tokens(client):
    first = chat(client, STORY, temperature=0, max_tokens=2).usage
    again = chat(client, STORY, temperature=0, max_tokens=2).usage
    assert first.completion_tokens_details.reasoning_tokens == 0
    # the same prompt again: its full blocks come from the engine's prefix cache
    assert 0 < again.prompt_tokens_details.cached_tokens < again.prompt_tokens
    _, chunks = stream_text(client, STORY, temperature=0, max_tokens=2, stream_options={"include_usage": True})
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == again.prompt_tokens_details.cached_tokens


def test_stream_options_need_stream(client):
    with pytest.raises(openai.BadRequestError, match="stream_options"):
        chat(client, max_tokens=2, stream_options={"include_usage": True})


def test_reasoning_effort_and_verbosity_are_accepted(client):
    response = chat(client, temperature=0, max_tokens=20, reasoning_effort="low", verbosity="low")
    assert "Paris" in response.choices[0].message.content
    with pytest.raises(openai.BadRequestError, match="reasoning_effort"):
        chat(client, max_tokens=2, reasoning_effort="extreme")
