"""Anthropic's Messages API wire types and their conversion, against the anthropic package's own types."""

import asyncio

import anthropic.types as sdk
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter, ValidationError

from tests.unit.sdk_fields import assert_sdk_fields
from triton_openai import contract as t
from triton_openai.frontend import errors
from triton_openai.frontend.protocol.anthropic import (
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    DeltaUsage,
    InputJSONDelta,
    MessageDelta,
    MessageResponse,
    MessagesRequest,
    MessageStart,
    MessageStop,
    StopDelta,
    TextDelta,
    TextOut,
    ThinkingDelta,
    ThinkingOut,
    TokenCount,
    ToolUseOut,
    Usage,
)
from triton_openai.frontend.protocol.common import Usage as CompletionUsage
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.serving import answer
from triton_openai.frontend.serving.anthropic import chat_messages, message_events
from triton_openai.frontend.triton.base import ServedModel

STREAM_EVENT = TypeAdapter(sdk.RawMessageStreamEvent)
REQUEST = MessagesRequest.model_validate(
    {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]}
)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (MessageResponse, sdk.Message),
        (TextOut, sdk.TextBlock),
        (ToolUseOut, sdk.ToolUseBlock),
        (ThinkingOut, sdk.ThinkingBlock),
        (ThinkingDelta, sdk.ThinkingDelta),
        (Usage, sdk.Usage),
        (TokenCount, sdk.MessageTokensCount),
        (MessageStart, sdk.RawMessageStartEvent),
        (ContentBlockStart, sdk.RawContentBlockStartEvent),
        (ContentBlockDelta, sdk.RawContentBlockDeltaEvent),
        (ContentBlockStop, sdk.RawContentBlockStopEvent),
        (MessageDelta, sdk.RawMessageDeltaEvent),
        (DeltaUsage, sdk.MessageDeltaUsage),
        (MessageStop, sdk.RawMessageStopEvent),
    ],
)
def test_our_fields_carry_the_sdk_names(ours, theirs):
    assert_sdk_fields(ours, theirs, only_known=True)


def message(content) -> MessageResponse:
    return MessageResponse(
        id="msg_1",
        model="m",
        content=content,
        stop_reason="tool_use",
        stop_sequence=None,
        usage=Usage(input_tokens=9, output_tokens=4),
    )


def test_a_message_parses_as_the_sdk_message():
    data = dump(
        message([TextOut(text="Checking."), ToolUseOut(id="toolu_1", name="get_weather", input={"city": "Paris"})])
    )
    parsed = sdk.Message.model_validate(data)
    assert parsed.content[1].input == {"city": "Paris"} and parsed.stop_reason == "tool_use"
    assert data["stop_sequence"] is None  # present, as Anthropic sends it


def test_stream_events_parse_as_the_sdk_events():
    events = [
        MessageStart(message=message([])),
        ContentBlockStart(index=0, content_block=ToolUseOut(id="toolu_1", name="f", input={})),
        ContentBlockDelta(index=0, delta=InputJSONDelta(partial_json='{"a": 1}')),
        ContentBlockStop(index=0),
        ContentBlockStart(index=1, content_block=TextOut(text="")),
        ContentBlockDelta(index=1, delta=TextDelta(text="hi")),
        ContentBlockStop(index=1),
        MessageDelta(
            delta=StopDelta(stop_reason="end_turn", stop_sequence=None),
            usage=DeltaUsage(input_tokens=9, output_tokens=4),
        ),
        MessageStop(),
    ]
    parsed = [STREAM_EVENT.validate_python(dump(event)) for event in events]
    assert [e.type for e in parsed] == [e.type for e in events]


def test_thinking_streams_into_the_sdk_message_before_the_text():
    async def answer_events():
        yield answer.Started(prompt_tokens=9)
        yield answer.ReasoningText(0, "The user")
        yield answer.ReasoningText(0, " greets.")
        yield answer.TextDelta(0, "Hello.")
        yield answer.Finished(0, "stop")
        yield answer.UsageReport(CompletionUsage.of(9, 4, reasoning_tokens=3))

    async def collect():
        generation = answer.GenerationStream("chatcmpl-1", 0, ServedModel("m", t.KIND_LLM, 0), answer_events())
        return [event async for event in message_events(REQUEST, generation)]

    events = asyncio.run(collect())
    snapshot, buffers = None, {}
    for event in events:
        parsed = STREAM_EVENT.validate_python(dump(event))
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=buffers)
    thinking, text = snapshot.content
    assert (thinking.type, thinking.thinking, thinking.signature) == ("thinking", "The user greets.", "")
    assert text.text == "Hello." and snapshot.stop_reason == "end_turn" and snapshot.usage.output_tokens == 4
    whole = sdk.Message.model_validate(dump(message([ThinkingOut(thinking="The user greets."), TextOut(text="Hi")])))
    assert whole.content[0].thinking == "The user greets."


@pytest.mark.parametrize("status", [400, 401, 404, 413, 429, 500, 503, 504])
def test_errors_on_messages_routes_parse_as_the_sdk_error(status):
    error = errors.APIError("bad")
    error.status_code = status
    body = errors.envelope_for("/v1/messages", error)
    parsed = ErrorResponse.model_validate(body)
    assert parsed.type == "error" and parsed.error.message == "bad"
    assert errors.envelope_for("/v1/messages/count_tokens", error) == body
    assert errors.envelope_for("/v1/chat/completions", error) == error.envelope()


def test_blocks_become_chat_messages():
    request = MessagesRequest.model_validate(
        {
            "max_tokens": 10,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "...", "signature": "s"},
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "sunny"}],
                        },
                        {"type": "text", "text": "And this?"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                            "title": "n",
                        },
                    ],
                },
            ],
        }
    )
    messages = chat_messages(request)
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assistant = messages[2]
    assert assistant["content"] == "Checking." and assistant["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert messages[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
    parts = messages[4]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert parts[1]["image_url"]["url"] == "data:image/png;base64,AA==" and parts[2]["text"].endswith("notes")


@pytest.mark.parametrize(
    "body, message",
    [
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "web_search_20250305"),
        ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "bash_20250124"),
        ({"tool_choice": {"type": "tool", "name": "nope"}}, "nope"),
        ({"tool_choice": {"type": "any"}}, "needs tools"),
        ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_requests_are_rejected(body, message):
    base = {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(ValidationError, match=message):
        MessagesRequest.model_validate({**base, **body})
