"""The chat and completions serving classes over RecordingTritonClient (no Triton): how
choices are numbered and seeded, how streams are put together, usage, stop_reason and
continuous usage."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.unit.recording_triton import LLM, Generate, RecordingTritonClient, pieces
from triton_openai import contract as t
from triton_openai.frontend.metrics import Metrics
from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.protocol.completions import CompletionRequest
from triton_openai.frontend.serving.chat import ServingChat
from triton_openai.frontend.serving.completion import ServingCompletion
from triton_openai.frontend.serving.registry import ModelRegistry

USER = [{"role": "user", "content": "hi"}]
USAGE_AND_MORE = {"include_usage": True, "continuous_usage_stats": True}


def serving(cls, client: RecordingTritonClient):
    return cls(client, ModelRegistry(client), Metrics())


def chat(client: RecordingTritonClient) -> ServingChat:
    return serving(ServingChat, client)


def completion(client: RecordingTritonClient) -> ServingCompletion:
    return serving(ServingCompletion, client)


async def streamed(iterator) -> list[dict]:
    return [dump(chunk) async for chunk in await iterator]


def by_choice(chunks: list[dict]) -> dict[int, list[dict]]:
    choices: dict[int, list[dict]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            choices.setdefault(choice["index"], []).append(chunk | {"choice": choice})
    return choices


# -- choices and seeds ----------------------------------------------------------------


def _says_prompt_and_seed(call: Generate):
    return pieces([f"{len(call.input_ids)}:{call.seed}"], len(call.input_ids))


async def test_completion_choices_are_numbered_prompt_times_n_plus_j():
    client = RecordingTritonClient(script=_says_prompt_and_seed)
    request = CompletionRequest(prompt=["ab", "wxyz"], n=2, seed=7)
    response = await completion(client).create(request)
    assert [(c.index, c.text) for c in response.choices] == [(0, "2:7"), (1, "2:8"), (2, "4:7"), (3, "4:8")]
    calls = client.calls_by_choice()
    assert [(c.input_ids, c.seed) for c in calls] == [([97, 98], 7), ([97, 98], 8)] + [
        ([119, 120, 121, 122], s) for s in (7, 8)
    ]
    assert not client.tokenized  # the llm model tokenizes each choice's prompt as it starts it


async def test_each_choice_gets_the_next_seed_and_no_seed_means_a_fresh_one():
    client = RecordingTritonClient()
    await chat(client).create(ChatCompletionRequest(messages=USER, n=3, seed=42))
    assert [c.seed for c in client.calls_by_choice()] == [42, 43, 44]
    client.generations.clear()
    await chat(client).create(ChatCompletionRequest(messages=USER, n=2))
    first, second = (c.seed for c in client.calls_by_choice())
    assert second == first + 1 and first != 42


async def test_sampling_and_guide_reach_each_choice():
    client = RecordingTritonClient()
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    format_ = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    await chat(client).create(ChatCompletionRequest(messages=USER, n=2, stop="\n", response_format=format_))
    for call in client.generations:
        assert call.stop == ["\n"] and call.guide == ("json_schema", json.dumps(schema))
        assert call.job.sampling.max_tokens is None and call.job.lora is None


# -- streams --------------------------------------------------------------------------


def _two_choices(call: Generate):
    texts = [["A", "B"], ["x", "y", "z"]][call.choice]
    return pieces(texts, len(call.input_ids), finish=["stop", "length"][call.choice])


async def test_a_chat_stream_opens_each_choice_then_streams_and_finishes_it():
    client = RecordingTritonClient(script=_two_choices)
    request = ChatCompletionRequest(messages=USER, n=2, stream=True, stream_options={"include_usage": True})
    chunks = await streamed(chat(client).create_stream(request))
    assert [c["choices"][0]["delta"] for c in chunks[:2]] == [{"role": "assistant", "content": ""}] * 2
    assert [c["choices"][0]["index"] for c in chunks[:2]] == [0, 1]
    choices = by_choice(chunks)
    for index, text, finish in ((0, "AB", "stop"), (1, "xyz", "length")):
        own = [c["choice"] for c in choices[index]]
        assert "".join(c["delta"].get("content") or "" for c in own) == text
        assert [c["finish_reason"] for c in own] == [None] * (len(own) - 1) + [finish]
        assert own[-1]["delta"] == {} and all("logprobs" in c for c in own)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5
    assert len({c["id"] for c in chunks}) == 1 and all(c["object"] == "chat.completion.chunk" for c in chunks)


async def test_a_completion_stream_numbers_its_chunks_by_choice():
    client = RecordingTritonClient(script=_says_prompt_and_seed)
    request = CompletionRequest(prompt=["ab", "wxyz"], n=2, seed=7, stream=True, echo=True)
    chunks = await streamed(completion(client).create_stream(request))
    choices = by_choice(chunks)
    texts = {index: "".join(c["choice"]["text"] for c in own) for index, own in choices.items()}
    assert texts == {0: "ab2:7", 1: "ab2:8", 2: "wxyz4:7", 3: "wxyz4:8"}
    assert all({"logprobs", "finish_reason"} <= set(c["choices"][0]) for c in chunks)  # null, but there
    assert all("usage" not in c for c in chunks)  # no include_usage: no usage key at all


# -- usage ----------------------------------------------------------------------------


def _counts(call: Generate):
    # choice j makes j + 1 tokens; a prompt of n ids has n // 2 of them cached
    return pieces(["t"] * (call.choice + 1), len(call.input_ids), cached=len(call.input_ids) // 2)


@pytest.mark.parametrize("stream", [False, True])
async def test_usage_counts_each_prompt_once_and_every_choices_tokens(stream):
    client = RecordingTritonClient(script=_counts)
    options = {"include_usage": True} if stream else None
    request = CompletionRequest(prompt=["ab", "wxyz"], n=3, stream=stream, stream_options=options)
    if stream:
        usage = (await streamed(completion(client).create_stream(request)))[-1]["usage"]
    else:
        usage = dump((await completion(client).create(request)).usage)
    assert usage["prompt_tokens"] == 2 + 4  # once per prompt, not once per choice
    assert usage["prompt_tokens_details"] == {"cached_tokens": 1 + 2}  # as the first choice of each saw them
    assert usage["completion_tokens"] == sum(range(1, 7))
    assert usage["total_tokens"] == 6 + 21


async def test_chat_usage_counts_the_prompt_once_for_n_choices():
    client = RecordingTritonClient(script=lambda call: pieces(["a"] * 3, 5, cached=4))
    response = await chat(client).create(ChatCompletionRequest(messages=USER, n=4))
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.cached_tokens) == (5, 12, 4)


# -- stop_reason ----------------------------------------------------------------------


def _stopped(call: Generate):
    if call.choice == 0:
        return pieces(["The capital is"], 3, stop_reason=" Paris")
    return pieces(["x"], 3, finish="length")


async def test_chat_sends_stop_reason_on_every_choice():
    client = RecordingTritonClient(script=_stopped)
    body = dump(await chat(client).create(ChatCompletionRequest(messages=USER, n=2)))
    assert [(c["finish_reason"], c["stop_reason"]) for c in body["choices"]] == [("stop", " Paris"), ("length", None)]


async def test_a_chat_stream_sends_stop_reason_with_the_finish():
    client = RecordingTritonClient(script=_stopped)
    chunks = await streamed(chat(client).create_stream(ChatCompletionRequest(messages=USER, n=2, stream=True)))
    for index, reason in ((0, " Paris"), (1, None)):
        own = [c["choice"] for c in by_choice(chunks)[index]]
        assert own[-1]["stop_reason"] == reason and "stop_reason" in own[-1]
        assert all("stop_reason" not in c for c in own[:-1])


async def test_completions_send_stop_reason_on_every_choice_and_chunk():
    client = RecordingTritonClient(script=_stopped)
    body = dump(await completion(client).create(CompletionRequest(prompt="a", n=2)))
    assert [c["stop_reason"] for c in body["choices"]] == [" Paris", None]
    chunks = await streamed(completion(client).create_stream(CompletionRequest(prompt="a", n=2, stream=True)))
    assert all("stop_reason" in c["choices"][0] for c in chunks)
    last = {c["choices"][0]["index"]: c["choices"][0]["stop_reason"] for c in chunks}
    assert last == {0: " Paris", 1: None}


# -- continuous usage -----------------------------------------------------------------


async def test_continuous_usage_puts_each_choices_usage_so_far_on_every_chat_chunk():
    client = RecordingTritonClient(script=lambda call: pieces(["A", "B"] if call.choice == 0 else ["x"], 7, cached=3))
    request = ChatCompletionRequest(messages=USER, n=2, stream=True, stream_options=USAGE_AND_MORE)
    chunks = await streamed(chat(client).create_stream(request))
    assert all(c["usage"]["prompt_tokens"] == 7 for c in chunks)
    assert [c["usage"]["completion_tokens"] for c in chunks[:2]] == [0, 0]  # the openings: nothing yet
    assert chunks[0]["usage"]["prompt_tokens_details"] == {"cached_tokens": 3}
    choices = by_choice(chunks)
    assert [c["usage"]["completion_tokens"] for c in choices[0]] == [0, 1, 2, 2]  # role, A, B, finish
    assert [c["usage"]["completion_tokens"] for c in choices[1]] == [0, 1, 1]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


async def test_continuous_usage_on_every_completion_chunk_echo_included():
    client = RecordingTritonClient(script=lambda call: pieces(["1", "2", "3"], len(call.input_ids)))
    request = CompletionRequest(prompt="abcd", stream=True, echo=True, stream_options=USAGE_AND_MORE)
    chunks = await streamed(completion(client).create_stream(request))
    assert [(c["choices"][0]["text"], c["usage"]["completion_tokens"]) for c in chunks[:-1]] == [
        ("abcd", 0),
        ("1", 1),
        ("2", 2),
        ("3", 3),
    ]
    assert all(c["usage"]["prompt_tokens"] == 4 for c in chunks)


async def test_continuous_usage_needs_include_usage():
    client = RecordingTritonClient()
    options = {"continuous_usage_stats": True}
    request = ChatCompletionRequest(messages=USER, stream=True, stream_options=options)
    assert all("usage" not in c for c in await streamed(chat(client).create_stream(request)))
    request = CompletionRequest(prompt="a", stream=True, stream_options=options)
    assert all("usage" not in c for c in await streamed(completion(client).create_stream(request)))


# -- prompts: tokenized by the model, limits, reasoning ----------------------------------


async def test_a_chat_prompt_goes_to_the_model_untokenized_with_the_servers_limit():
    client = RecordingTritonClient()
    serving_chat = ServingChat(client, ModelRegistry(client), Metrics(), max_prompt_tokens=60)
    await serving_chat.create(ChatCompletionRequest(messages=USER, max_tokens=2))
    (call,) = client.generations
    assert list(call.job.prompt.messages) == USER and call.job.max_prompt_tokens == 60
    assert not client.tokenized  # one call: the model renders and tokenizes the messages itself
    await chat(client).create(ChatCompletionRequest(messages=USER, max_tokens=2))
    assert client.generations[-1].job.max_prompt_tokens is None  # the context's limit is the model's own


def _opened_by_the_prompt(call: Generate):
    chunks = pieces(["Let me think.", "</think>", "Paris"], 3)
    return [replace(chunks[0], rendered_prompt="<|im_start|>assistant\n<think>\n"), *chunks[1:]]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_rendered_prompt_that_opens_the_reasoning_starts_the_answer_inside_it(stream):
    thinking = replace(LLM, parameters={t.PARAM_REASONING_PARSER: "think"})
    client = RecordingTritonClient(served=[thinking], script=_opened_by_the_prompt)
    request = ChatCompletionRequest(model="tiny", messages=USER, stream=stream)
    if stream:
        deltas = [c["choices"][0]["delta"] for c in await streamed(chat(client).create_stream(request))]
        reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
        content = "".join(d.get("content") or "" for d in deltas)
    else:
        message = dump(await chat(client).create(request))["choices"][0]["message"]
        reasoning, content = message["reasoning_content"], message["content"]
    assert (reasoning, content) == ("Let me think.", "Paris")
