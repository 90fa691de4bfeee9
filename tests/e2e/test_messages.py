"""/v1/messages on the real stack through the official anthropic package: create, stream,
tools and their results, stop sequences, count_tokens, errors in Anthropic's envelope."""

from __future__ import annotations

import json

import anthropic
import pytest

from tests.e2e.conftest import MODEL
from tests.e2e.test_cancellation import hang_up_mid_stream

ASK = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# Newer anthropic packages send sampling parameters only through extra_body.
GREEDY = {"model": MODEL, "extra_body": {"temperature": 0}}


@pytest.fixture(scope="module")
def claude(server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=120)


def test_create_answers_with_the_sdk_message(claude):
    message = claude.messages.create(max_tokens=24, system="You are terse.", messages=ASK, **GREEDY)
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.model == MODEL and message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.content[0].type == "text" and "Paris" in message.content[0].text
    assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 24


def test_max_tokens_and_stop_sequences_are_the_stop_reasons(claude):
    cut = claude.messages.create(max_tokens=2, messages=ASK, **GREEDY)
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 2
    stopped = claude.messages.create(max_tokens=24, stop_sequences=["Paris"], messages=ASK, **GREEDY)
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "Paris"
    assert "Paris" not in stopped.content[0].text


def test_the_stream_is_the_whole_message(claude):
    whole = claude.messages.create(max_tokens=24, messages=ASK, **GREEDY)
    with claude.messages.stream(max_tokens=24, messages=ASK, **GREEDY) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text == whole.content[0].text
    assert final.stop_reason == whole.stop_reason and final.usage.output_tokens == whole.usage.output_tokens
    total = final.usage.input_tokens + final.usage.cache_read_input_tokens
    assert total == whole.usage.input_tokens + whole.usage.cache_read_input_tokens


def test_a_forced_tool_is_used_whole_and_streamed(claude):
    ask = {"max_tokens": 60, "tools": [WEATHER], "tool_choice": {"type": "any"}, "messages": [{"role": "user", "content": "Weather in Paris?"}]}  # fmt: skip
    whole = claude.messages.create(**ask, **GREEDY)
    assert whole.stop_reason == "tool_use"
    use = whole.content[-1]
    assert use.type == "tool_use" and use.name == "get_weather" and use.id.startswith("toolu_")
    assert isinstance(use.input["city"], str)
    with claude.messages.stream(**ask, **GREEDY) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert [e.type for e in events if e.type in ("message_start", "message_stop")] == ["message_start", "message_stop"]
    assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
    assert final.stop_reason == "tool_use" and final.content[-1].input == use.input


def test_a_tool_result_continues_the_conversation_as_chat_would(claude, client):
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    first = claude.messages.create(max_tokens=60, tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"}, messages=ask, **GREEDY)  # fmt: skip
    use = first.content[-1]
    result = {"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}
    conversation = [*ask, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}]
    second = claude.messages.create(max_tokens=16, tools=[WEATHER], messages=conversation, **GREEDY)
    assert second.stop_reason in ("end_turn", "max_tokens", "tool_use")
    chat = client.chat.completions.create(
        model=MODEL,
        messages=[
            *ask,
            {"role": "assistant", "tool_calls": [{"id": use.id, "type": "function", "function": {"name": use.name, "arguments": json.dumps(use.input)}}]},
            {"role": "tool", "tool_call_id": use.id, "content": "sunny, 21 C"},
        ],
        tools=[{"type": "function", "function": {"name": WEATHER["name"], "description": WEATHER["description"], "parameters": WEATHER["input_schema"]}}],
        max_tokens=1,
    )  # fmt: skip
    prompt = second.usage.input_tokens + second.usage.cache_read_input_tokens
    assert prompt == chat.usage.prompt_tokens
    assert second.usage.cache_read_input_tokens > 0  # the first turn's prompt came from the prefix cache
    counted = claude.messages.count_tokens(model=MODEL, tools=[WEATHER], messages=conversation)
    assert counted.input_tokens == prompt


def test_output_config_holds_the_answer_to_a_schema(claude):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    message = claude.messages.create(
        max_tokens=40, messages=ASK, output_config={"format": {"type": "json_schema", "schema": schema}}, **GREEDY
    )
    assert set(json.loads(message.content[0].text)) == {"city"}


@pytest.mark.parametrize(
    "kwargs, error, named",
    [
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, anthropic.BadRequestError, "web_search"),
        ({"messages": []}, anthropic.BadRequestError, "messages"),
        ({"model": "no-such-model"}, anthropic.NotFoundError, "no-such-model"),
    ],
)
def test_errors_come_in_anthropics_envelope(claude, kwargs, error, named):
    body = {"model": MODEL, "max_tokens": 4, "messages": ASK, **kwargs}
    with pytest.raises(error, match=named) as raised:
        claude.messages.create(**body)
    assert raised.value.body["type"] == "error" and raised.value.body["error"]["message"]


def test_disconnect_mid_stream_cancels(server):
    body = {"model": MODEL, "max_tokens": 2000, "messages": [{"role": "user", "content": "Tell me a story."}]}
    hang_up_mid_stream(server, "/v1/messages", body, 12)
