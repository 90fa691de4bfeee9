"""The Responses API's wire types and output builder, against the openai package's own types."""

import openai.types.responses as sdk
import pytest
from pydantic import TypeAdapter, ValidationError

from tests.unit.sdk_fields import assert_sdk_fields
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.protocol.responses import (
    ArgumentsDeltaEvent,
    ArgumentsDoneEvent,
    ContentPartEvent,
    FunctionCall,
    InputItemList,
    InputTokens,
    OutputItemEvent,
    OutputMessage,
    OutputText,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    ReasoningOutput,
    ResponseEvent,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
    TextDeltaEvent,
    TextDoneEvent,
    TextOut,
)
from triton_openai.frontend.serving.answer import Answer, ToolCall
from triton_openai.frontend.serving.response_items import chat_messages, output_items, stored_items
from triton_openai.frontend.serving.response_output import Output, lifecycle_event

STREAM_EVENT = TypeAdapter(sdk.ResponseStreamEvent)
ITEM = TypeAdapter(sdk.ResponseItem)
LOGPROB = {
    "token": "Hi",
    "logprob": -0.5,
    "bytes": [72, 105],
    "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105]}],
}


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (ResponseObject, sdk.Response),
        (OutputMessage, sdk.ResponseOutputMessage),
        (OutputText, sdk.ResponseOutputText),
        (FunctionCall, sdk.ResponseFunctionToolCall),
        (ReasoningOutput, sdk.ResponseReasoningItem),
        (ReasoningDeltaEvent, sdk.ResponseReasoningTextDeltaEvent),
        (ReasoningDoneEvent, sdk.ResponseReasoningTextDoneEvent),
        (ResponseUsage, sdk.ResponseUsage),
        (InputItemList, sdk.ResponseItemList),
        (InputTokens, sdk.InputTokenCountResponse),
        (TextDeltaEvent, sdk.ResponseTextDeltaEvent),
        (TextDoneEvent, sdk.ResponseTextDoneEvent),
        (ContentPartEvent, sdk.ResponseContentPartAddedEvent),
        (OutputItemEvent, sdk.ResponseOutputItemAddedEvent),
        (ArgumentsDeltaEvent, sdk.ResponseFunctionCallArgumentsDeltaEvent),
        (ArgumentsDoneEvent, sdk.ResponseFunctionCallArgumentsDoneEvent),
        (ResponseEvent, sdk.ResponseCompletedEvent),
    ],
)
def test_our_fields_carry_the_sdk_names(ours, theirs):
    assert_sdk_fields(ours, theirs, only_known=True)


def response(output: Output, status: str = "completed") -> ResponseObject:
    return ResponseObject(
        id="resp_" + "0" * 48,
        created_at=1,
        status=status,
        error=None,
        incomplete_details=None,
        model="m",
        output=output.items,
        parallel_tool_calls=True,
        text=TextOut(format={"type": "text"}),
        tool_choice="auto",
        tools=[],
        truncation="disabled",
        usage=ResponseUsage(input_tokens=5, output_tokens=3, total_tokens=8),
    )


def test_a_whole_answer_parses_as_the_sdk_response():
    output = Output()
    calls = [ToolCall("call_1", "get_weather", '{"city": "Paris"}')]
    output.add_answer(Answer(0, "Let me look.", calls, "tool_calls", logprobs=[LOGPROB]))
    parsed = sdk.Response.model_validate(dump(response(output)))
    message, call = parsed.output
    assert parsed.output_text == "Let me look." and message.content[0].logprobs[0].bytes == [72, 105]
    assert (call.type, call.call_id, call.name, call.arguments) == (
        "function_call",
        "call_1",
        "get_weather",
        '{"city": "Paris"}',
    )
    assert message.status == call.status == "completed"
    assert parsed.usage.input_tokens_details.cached_tokens == 0


def test_an_answer_with_no_text_and_no_calls_is_one_empty_message():
    output = Output()
    output.add_answer(Answer(0, "", [], "length"))
    parsed = sdk.Response.model_validate(dump(response(output, "incomplete")))
    assert parsed.output_text == "" and parsed.output[0].status == "incomplete"


def test_stream_events_parse_as_the_sdk_events_and_rebuild_the_output():
    output = Output()
    events = [lifecycle_event("response.created", response(Output(), "in_progress"))]
    events += output.text("Hel", None) + output.text("lo", None)
    events += output.call_start(0, "call_1", "f") + output.call_arguments(0, '{"a":') + output.call_arguments(0, " 1}")
    events += output.finish(incomplete=False)
    events.append(lifecycle_event("response.completed", response(output)))
    for number, event in enumerate(events):
        event.sequence_number = number
    parsed = [STREAM_EVENT.validate_python(dump(event)) for event in events]
    assert [event.type for event in parsed] == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = [e for e in parsed if e.type == "response.output_item.added"]
    assert added[0].item.content == [] and added[0].item.status == "in_progress" and added[1].item.arguments == ""
    done = [e.item for e in parsed if e.type == "response.output_item.done"]
    assert done == parsed[-1].response.output  # the items streamed are the items of the final response
    assert "".join(e.delta for e in parsed if e.type == "response.output_text.delta") == "Hello"


def test_reasoning_is_its_own_item_before_the_message_streamed_or_whole():
    streamed = Output()
    events = [lifecycle_event("response.created", response(Output(), "in_progress"))]
    events += streamed.reasoning("The user") + streamed.reasoning(" greets.") + streamed.text("Hello.", None)
    events += streamed.finish(incomplete=False)
    events.append(lifecycle_event("response.completed", response(streamed)))
    for number, event in enumerate(events):
        event.sequence_number = number
    parsed = [STREAM_EVENT.validate_python(dump(event)) for event in events]
    assert [event.type for event in parsed][:8] == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    done = [e.item for e in parsed if e.type == "response.output_item.done"]
    assert done == parsed[-1].response.output
    reasoning, message = parsed[-1].response.output
    assert (reasoning.type, reasoning.content[0].text, reasoning.status) == (
        "reasoning",
        "The user greets.",
        "completed",
    )
    assert parsed[-1].response.output_text == "Hello."
    whole = Output()
    whole.add_answer(Answer(0, "Hello.", [], "stop", reasoning="The user greets."))
    assert [item.model_dump(exclude={"id"}) for item in whole.items] == [
        item.model_dump(exclude={"id"}) for item in streamed.items
    ]
    # passed back in a later request's input, the stored item is accepted (and left out of the prompt)
    items = output_items(whole.items)
    assert ITEM.validate_python({**items[0], "status": "completed"}).type == "reasoning"
    assert [m["role"] for m in chat_messages(items, None)] == ["assistant"]


def test_sdk_shaped_input_is_accepted_and_stored_with_ids():
    request = ResponsesRequest.model_validate(
        {
            "input": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
                },
                {
                    "type": "function_call",
                    "call_id": "call_1",
                    "name": "get_weather",
                    "arguments": "{}",
                    "id": "fc_1",
                    "status": "completed",
                },
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "And tomorrow?"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AA==", "detail": "auto"},
                    ],
                },
            ],
            "tools": [
                {
                    "type": "function",
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {}},
                    "strict": True,
                }
            ],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": True}},
            "include": ["message.output_text.logprobs"],
            "brand_new_field": 1,
        }
    )
    items = stored_items(request.input)
    assert all(item["id"] for item in items) and items[2]["id"] == "fc_1"
    for item in items:
        ITEM.validate_python(item)  # what input_items lists parses as the SDK's items
    assert request.wants_logprobs


def items_of(raw):
    return stored_items(ResponsesRequest.model_validate({"input": raw}).input)


def test_conversation_items_keep_calls_and_their_outputs_in_the_prompt():
    turn_one = items_of([{"role": "user", "content": "Weather in Paris?"}])
    output = Output()
    output.add_answer(
        Answer(
            0,
            None,
            [ToolCall("call_1", "get_weather", '{"city": "Paris"}'), ToolCall("call_2", "get_time", "{}")],
            "tool_calls",
        )
    )
    answers = items_of([
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "noon"}]},
    ])  # fmt: skip
    messages = chat_messages([*turn_one, *output_items(output.items), *answers], "Be brief.")
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[2]["role"] == "assistant" and [c["id"] for c in messages[2]["tool_calls"]] == ["call_1", "call_2"]
    assert messages[3:] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
    ]


@pytest.mark.parametrize(
    "body, named",
    [
        ({"tools": [{"type": "web_search_preview"}]}, "web_search_preview"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "code_interpreter"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "file_search"),
        ({"tool_choice": {"type": "web_search_preview"}}, "web_search_preview"),
        ({"input": [{"type": "computer_call_output", "call_id": "c", "output": {}}]}, "computer_call_output"),
    ],
)
def test_hosted_tools_and_unknown_items_are_refused_by_name(body, named):
    with pytest.raises(ValidationError, match=named):
        ResponsesRequest.model_validate({"input": "hi", **body})


@pytest.mark.parametrize(
    "body",
    [
        {"input": []},
        {"input": "hi", "tool_choice": "required"},
        {"input": "hi", "tools": [{"type": "function", "name": "a"}, {"type": "function", "name": "a"}]},
        {"input": "hi", "tools": [{"type": "function", "name": "a"}], "tool_choice": {"type": "function", "name": "b"}},
        {"input": "hi", "max_output_tokens": 0},
        {"input": "hi", "metadata": {str(i): "v" for i in range(17)}},
        {"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://example.com/a.pdf"}]}]},
    ],
)
def test_bad_requests_are_rejected(body):
    with pytest.raises(ValidationError):
        ResponsesRequest.model_validate(body)
