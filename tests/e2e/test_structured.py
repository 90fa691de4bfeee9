"""Structured output through the openai package: JSON modes, guided decoding, tools, logprobs."""

from __future__ import annotations

import json
import math
import re

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from tests.e2e.conftest import MODEL

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "role": {"enum": ["admin", "user", "guest"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
        "address": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 24},
                "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
            },
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "role", "tags", "address"],
    "additionalProperties": False,
}
ASK_PERSON = [{"role": "user", "content": "Invent a person and describe them."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The current time in a timezone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "maxLength": 30}},
            "required": ["timezone"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [WEATHER, TIME]
PARAMETERS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
ASK_WEATHER = [{"role": "user", "content": "What is the weather like in Paris right now?"}]


def chat(client, messages, **kwargs):
    return client.chat.completions.create(model=MODEL, messages=messages, **kwargs)


def schema_format(schema, name="person"):
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def assert_valid_calls(calls, names=None):
    assert calls
    for call in calls:
        assert call.type == "function" and call.id.startswith("call_")
        assert call.function.name in (names or PARAMETERS)
        jsonschema.validate(json.loads(call.function.arguments), PARAMETERS[call.function.name])


# -- JSON ------------------------------------------------------------------------------------


def test_json_schema_sampled_runs_all_validate(client):
    response = chat(client, ASK_PERSON, n=10, temperature=1.0, seed=11, response_format=schema_format(PERSON))
    assert len(response.choices) == 10
    for choice in response.choices:
        assert choice.finish_reason == "stop"
        jsonschema.validate(json.loads(choice.message.content), PERSON)


def test_json_schema_streamed_runs_all_validate(client):
    stream = chat(
        client, ASK_PERSON, n=10, temperature=1.0, seed=12, response_format=schema_format(PERSON), stream=True
    )
    texts = ["" for _ in range(10)]
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    for text in texts:
        jsonschema.validate(json.loads(text), PERSON)


def test_json_object_mode(client):
    ask = "Give me a JSON object with the name and age of a cat."
    response = chat(client, [{"role": "user", "content": ask}], temperature=0.0, max_tokens=200,
                    response_format={"type": "json_object"})  # fmt: skip
    assert response.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(response.choices[0].message.content), dict)


def test_json_code_mode_returns_repaired_json(client):
    response = chat(client, [{"role": "user", "content": "Describe a dog."}], temperature=0.7, seed=2, max_tokens=120,
                    response_format={"type": "json_code"})  # fmt: skip
    json.loads(response.choices[0].message.content)


class Pet(BaseModel):
    name: str
    species: str
    age: int


def test_sdk_parse_with_a_pydantic_model(client):
    completion = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe a pet."}],
        response_format=Pet,
        temperature=0.5,
        seed=4,
    )
    pet = completion.choices[0].message.parsed
    assert isinstance(pet, Pet)


@pytest.mark.parametrize(
    "extra, check",
    [
        ({"guided_json": PERSON}, lambda text: jsonschema.validate(json.loads(text), PERSON)),
        (
            {"guided_regex": r"[A-Z]{2}[0-9]{3}"},
            lambda text: re.fullmatch(r"[A-Z]{2}[0-9]{3}", text) or pytest.fail(text),
        ),
        (
            {"guided_choice": ["red", "green", "blue"]},
            lambda text: text in ("red", "green", "blue") or pytest.fail(text),
        ),
        ({"guided_grammar": 'start: "yes" | "no"'}, lambda text: text in ("yes", "no") or pytest.fail(text)),
    ],
)
def test_guided_extras_on_chat_and_completions(client, extra, check):
    reply = chat(client, [{"role": "user", "content": "Answer."}], temperature=1.0, seed=5, extra_body=extra)
    check(reply.choices[0].message.content)
    completion = client.completions.create(model=MODEL, prompt="Answer:", temperature=1.0, seed=6, max_tokens=200,
                                           extra_body=extra)  # fmt: skip
    check(completion.choices[0].text)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"response_format": schema_format({"type": "nonsense"})}, "nonsense"),
        ({"extra_body": {"guided_regex": "[0-9"}}, "regex"),
        ({"extra_body": {"guided_json": "{not json"}}, "JSON"),
        ({"response_format": {"type": "json_schema"}}, "json_schema"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "bad name!"),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "nope"),
        ({"tool_choice": "required"}, "needs tools"),
        (
            {
                "tools": [{**WEATHER, "function": {**WEATHER["function"], "parameters": {"type": 7}}}],
                "tool_choice": "required",
            },
            "invalid",
        ),
        ({"top_logprobs": 3}, "logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ],
)
def test_bad_structured_requests_are_400(client, kwargs, fragment):
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, ASK_WEATHER, max_tokens=5, **kwargs)
    assert fragment in info.value.body["message"]


# -- tools -----------------------------------------------------------------------------------


def test_tool_choice_required_gives_valid_calls(client):
    response = chat(client, ASK_WEATHER, tools=TOOLS, tool_choice="required", temperature=0.8, seed=7)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert_valid_calls(choice.message.tool_calls)


def test_tool_choice_named_calls_that_function_once(client):
    named = {"type": "function", "function": {"name": "get_time"}}
    response = chat(client, ASK_WEATHER, tools=TOOLS, tool_choice=named, temperature=0.8, seed=8)
    calls = response.choices[0].message.tool_calls
    assert len(calls) == 1
    assert_valid_calls(calls, names=["get_time"])
    # OpenAI answers "stop" for a forced named function (and "tool_calls" under auto / required)
    assert response.choices[0].finish_reason == "stop"
    with client.chat.completions.stream(model=MODEL, messages=ASK_WEATHER, tools=TOOLS, tool_choice=named) as stream:
        final = stream.get_final_completion()
    assert (
        final.choices[0].finish_reason == "stop" and final.choices[0].message.tool_calls[0].function.name == "get_time"
    )


def test_parallel_tool_calls_false_gives_one_call(client):
    for seed in range(3):
        response = chat(client, ASK_WEATHER, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
                        temperature=1.0, seed=seed)  # fmt: skip
        calls = response.choices[0].message.tool_calls
        assert len(calls) == 1
        assert_valid_calls(calls)


def test_parallel_calls_are_all_returned(client):
    seen = []
    for seed in range(6):
        response = chat(client, ASK_WEATHER, tools=TOOLS, tool_choice="required", temperature=1.0, seed=seed,
                        max_tokens=400)  # fmt: skip
        calls = response.choices[0].message.tool_calls
        assert_valid_calls(calls)
        assert len(calls) <= 8
        assert len({c.id for c in calls}) == len(calls)
        seen.append(len(calls))
    assert max(seen) >= 2, seen  # the model used the freedom to call several at once


def test_tool_choice_none_answers_in_text(client):
    response = chat(client, ASK_WEATHER, tools=TOOLS, tool_choice="none", max_tokens=20)
    choice = response.choices[0]
    assert choice.message.tool_calls is None and choice.message.content
    assert choice.finish_reason in ("stop", "length")


def test_tool_choice_auto_gives_text_or_valid_calls(client):
    for seed in range(3):
        choice = chat(client, ASK_WEATHER, tools=TOOLS, temperature=0.9, seed=seed, max_tokens=60).choices[0]
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls"
            assert_valid_calls(choice.message.tool_calls)
        else:
            assert choice.message.content and choice.finish_reason in ("stop", "length")


def test_streamed_tool_calls_reassemble_to_the_non_streamed(client):
    kwargs = {"messages": ASK_WEATHER, "tools": TOOLS, "tool_choice": "required", "temperature": 0.0}
    full = client.chat.completions.create(model=MODEL, **kwargs).choices[0].message.tool_calls
    with client.chat.completions.stream(model=MODEL, **kwargs) as stream:
        deltas = [event for event in stream if event.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    assert len(deltas) > 1  # the arguments arrived in pieces
    streamed = final.choices[0].message.tool_calls
    assert [(c.function.name, c.function.arguments) for c in streamed] == [
        (c.function.name, c.function.arguments) for c in full
    ]
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_round_trip(client):
    first = chat(client, ASK_WEATHER, tools=[WEATHER], tool_choice="required", temperature=0.0)
    call = first.choices[0].message.tool_calls[0]
    history = [
        *ASK_WEATHER,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 18, "sky": "sunny"})},
    ]
    second = chat(client, history, tools=[WEATHER], tool_choice="none", temperature=0.0, max_tokens=40)
    assert second.choices[0].message.content
    without = chat(client, ASK_WEATHER, tools=[WEATHER], tool_choice="none", max_tokens=1)
    # The call and its result are in the prompt (rendered as <tool_call> / <tool_response>).
    assert second.usage.prompt_tokens > without.usage.prompt_tokens + len(call.function.arguments) // 4


# -- logprobs --------------------------------------------------------------------------------


def test_chat_logprobs(client):
    response = chat(client, ASK_WEATHER, logprobs=True, top_logprobs=3, max_tokens=8, temperature=0.0)
    content = response.choices[0].logprobs.content
    assert "".join(entry.token for entry in content) == response.choices[0].message.content
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token  # greedy picks the most likely
        assert math.isclose(entry.top_logprobs[0].logprob, entry.logprob, abs_tol=1e-4)
        assert bytes(entry.bytes).decode("utf-8", errors="replace") == entry.token
    assert chat(client, ASK_WEATHER, max_tokens=3).choices[0].logprobs is None


def test_chat_logprobs_streaming(client):
    chunks = list(chat(client, ASK_WEATHER, logprobs=True, top_logprobs=0, max_tokens=8, temperature=0.0, stream=True))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "".join(e.token for e in entries) == text
    assert all(e.top_logprobs == [] for e in entries)


def test_completion_logprobs(client):
    response = client.completions.create(model=MODEL, prompt="The capital of France is", logprobs=2, max_tokens=4,
                                         temperature=0.0, echo=True)  # fmt: skip
    logprobs = response.choices[0].logprobs
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.top_logprobs) == 4
    assert logprobs.text_offset[0] == len("The capital of France is")
    assert all(len(top) <= 2 and max(top.values()) <= 0 for top in logprobs.top_logprobs)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=MODEL, prompt="x", logprobs=6, max_tokens=2)
