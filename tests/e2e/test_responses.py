"""/v1/responses on the real stack through the official openai package: create, stream and
its helpers, parse, retrieve, delete, input items, previous_response_id with tool calls,
errors, cancellation and metrics."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from tests.e2e.conftest import MODEL, wait_for
from tests.e2e.test_cancellation import LLM, hang_up_mid_stream
from tests.e2e.test_metrics import scrape, value

ASK = "What is the capital of France?"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
GREEDY = {"model": MODEL, "temperature": 0}


def test_create_answers_with_the_sdk_response(client):
    response = client.responses.create(input=ASK, max_output_tokens=24, **GREEDY)
    assert response.id.startswith("resp_") and response.object == "response" and response.model == MODEL
    assert response.status == "completed" and "Paris" in response.output_text
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    usage = response.usage
    assert usage.input_tokens > 0 and 0 < usage.output_tokens <= 24
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_the_output_limit_makes_an_incomplete_response(client):
    response = client.responses.create(input="Tell me a long story.", max_output_tokens=3, **GREEDY)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 3 and response.output[0].status == "incomplete"


def test_instructions_are_the_system_message(client):
    instructions = "You answer in one word."
    response = client.responses.create(input=ASK, instructions=instructions, max_output_tokens=8, **GREEDY)
    chat = client.chat.completions.create(
        messages=[{"role": "system", "content": instructions}, {"role": "user", "content": ASK}], max_tokens=8, **GREEDY
    )
    assert response.usage.input_tokens == chat.usage.prompt_tokens


def test_the_stream_helpers_reassemble_the_whole_response(client):
    whole = client.responses.create(input=ASK, max_output_tokens=24, **GREEDY)
    with client.responses.stream(input=ASK, max_output_tokens=24, **GREEDY) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == whole.output_text
    assert final.output_text == whole.output_text and final.status == whole.status
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert client.responses.retrieve(final.id).output_text == whole.output_text


def test_a_streamed_function_call_is_the_whole_one(client):
    ask = {
        "input": "What is the weather in Paris?",
        "tools": [WEATHER],
        "tool_choice": "required",
        "max_output_tokens": 60,
    }
    whole = client.responses.create(**ask, **GREEDY)
    with client.responses.stream(**ask, **GREEDY) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    call, streamed = whole.output[0], final.output[0]
    assert call.type == streamed.type == "function_call" and call.name == streamed.name == "get_weather"
    assert call.call_id.startswith("call_") and call.id.startswith("fc_")
    assert "".join(deltas) == streamed.arguments == call.arguments and "city" in json.loads(call.arguments)


def test_parse_fills_the_pydantic_model(client):
    class City(BaseModel):
        name: str
        country: str

    parsed = client.responses.parse(input="Describe Paris.", text_format=City, max_output_tokens=60, **GREEDY)
    assert isinstance(parsed.output_parsed, City) and parsed.output_parsed.name


def test_tools_go_with_a_text_format(client):
    """The Agents SDK's output_type: the answer is a call, or JSON of the format."""
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    text = {"format": {"type": "json_schema", "name": "reply", "schema": schema, "strict": True}}
    for question in ("What is the weather in Paris?", "Say hello."):
        response = client.responses.create(input=question, tools=[WEATHER], text=text, max_output_tokens=60, **GREEDY)
        item = response.output[0]
        if item.type == "function_call":
            assert item.name == "get_weather" and "city" in json.loads(item.arguments)
        else:
            assert set(json.loads(response.output_text)) == {"answer"}


def test_logprobs_come_when_included(client):
    response = client.responses.create(
        input=ASK, max_output_tokens=4, include=["message.output_text.logprobs"], top_logprobs=2, **GREEDY
    )
    logprobs = response.output[0].content[0].logprobs
    assert len(logprobs) == response.usage.output_tokens - (response.status == "completed")
    assert all(len(entry.top_logprobs) == 2 and entry.logprob <= 0 for entry in logprobs)


def test_previous_response_id_keeps_the_calls_and_their_outputs(client):
    first = client.responses.create(
        input="What is the weather in Paris?", tools=[WEATHER], tool_choice="required", max_output_tokens=60, **GREEDY
    )
    call = first.output[0]
    answer = {"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "sunny", "celsius": 21}'}
    second = client.responses.create(
        previous_response_id=first.id, input=[answer], tools=[WEATHER], max_output_tokens=24, **GREEDY
    )
    assert second.previous_response_id == first.id
    # The prompt is what chat completions makes of the whole conversation, tool call and result included.
    chat = client.chat.completions.create(
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "tool_calls": [{"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}]},
            {"role": "tool", "tool_call_id": call.call_id, "content": answer["output"]},
        ],
        tools=[{"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}],
        max_tokens=24,
        **GREEDY,
    )  # fmt: skip
    assert second.usage.input_tokens == chat.usage.prompt_tokens
    assert 0 < second.usage.input_tokens_details.cached_tokens < second.usage.input_tokens  # the first turn's prefix
    third = client.responses.create(
        previous_response_id=second.id, input="Thanks!", tools=[WEATHER], max_output_tokens=4, **GREEDY
    )
    assert third.usage.input_tokens > second.usage.input_tokens + second.usage.output_tokens
    counted = client.responses.input_tokens.count(
        model=MODEL, previous_response_id=second.id, input="Thanks!", tools=[WEATHER]
    )
    assert counted.input_tokens == third.usage.input_tokens
    items = client.responses.input_items.list(third.id)
    assert [item.type for item in items.data] == ["message"]  # a response's own input, not the earlier turns


def test_stored_responses_are_retrieved_listed_and_deleted(client):
    given = [{"role": "user", "content": f"Say {word}."} for word in ("one", "two", "three")]
    response = client.responses.create(input=given, max_output_tokens=4, metadata={"run": "e2e"}, **GREEDY)
    again = client.responses.retrieve(response.id)
    assert again.output_text == response.output_text and again.metadata == {"run": "e2e"}
    first_page = client.responses.input_items.list(response.id, limit=2, order="asc")
    assert first_page.has_more and [i.content[0].text for i in first_page.data] == ["Say one.", "Say two."]
    rest = client.responses.input_items.list(response.id, limit=2, order="asc", after=first_page.last_id)
    assert not rest.has_more and [i.content[0].text for i in rest.data] == ["Say three."]
    newest = client.responses.input_items.list(response.id, limit=1)
    assert newest.data[0].content[0].text == "Say three."  # newest first by default, as OpenAI
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(previous_response_id=response.id, input="Hi", max_output_tokens=2, **GREEDY)


def test_store_false_keeps_nothing(client):
    response = client.responses.create(input=ASK, store=False, max_output_tokens=2, **GREEDY)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"tools": [{"type": "web_search_preview"}]}, "web_search_preview"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "code_interpreter"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"temperature": 3}, "temperature"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning_effort"),  # effort reaches the chat template
        ({"input": [{"type": "computer_call_output", "call_id": "c", "output": {}}]}, "computer_call_output"),
    ],
)
def test_bad_requests_get_a_400_that_names_the_problem(client, kwargs, named):
    body = {"model": MODEL, "input": ASK, "max_output_tokens": 2, **kwargs}
    with pytest.raises(openai.BadRequestError, match=named):
        client.responses.create(**body)


def test_unknown_model_and_response_ids_are_404s(client):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input=ASK, max_output_tokens=2)
    for call in (client.responses.retrieve, client.responses.delete, client.responses.input_items.list):
        with pytest.raises(openai.NotFoundError):
            call("resp_" + "0" * 48)


def test_disconnect_mid_stream_cancels_and_is_counted(server, http):
    hang_up_mid_stream(
        server, "/v1/responses", {"model": MODEL, "input": "Tell me a story.", "max_output_tokens": 2000}, 12
    )
    assert value(scrape(http), "triton_openai_requests_total", endpoint="/v1/responses", status="200") >= 1


def test_truncation_auto_drops_the_oldest_turns(client):
    context = client.models.retrieve(MODEL).model_extra["max_model_len"]
    conversation = [
        {"role": "user", "content": "hello " * context},  # this turn alone overflows the context
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": ASK},
    ]
    with pytest.raises(openai.BadRequestError, match="context"):
        client.responses.create(input=conversation, max_output_tokens=2, **GREEDY)
    fitted = client.responses.create(input=conversation, truncation="auto", max_output_tokens=2, **GREEDY)
    alone = client.responses.create(input=conversation[2:], max_output_tokens=2, **GREEDY)
    assert fitted.truncation == "auto" and fitted.usage.input_tokens == alone.usage.input_tokens
    assert len(client.responses.input_items.list(fitted.id).data) == 3  # the input is kept whole


def test_a_background_response_is_done_later(client):
    queued = client.responses.create(input=ASK, background=True, max_output_tokens=8, **GREEDY)
    assert queued.status == "queued" and queued.background and queued.output == []
    assert wait_for(lambda: client.responses.retrieve(queued.id).status == "completed", timeout=60)
    done = client.responses.retrieve(queued.id)
    assert done.output_text and done.usage.output_tokens <= 8
    with pytest.raises(openai.BadRequestError):  # only background responses can be cancelled
        client.responses.cancel(client.responses.create(input=ASK, max_output_tokens=2, **GREEDY).id)


def test_cancelling_a_background_response_stops_its_generation(server, client):
    cancelled = server.metric("llm_engine_requests_cancelled_total", LLM)
    body = {
        "input": "Tell me a long story.",
        "background": True,
        "max_output_tokens": 2000,
        "extra_body": {"ignore_eos": True},
    }
    running = client.responses.create(**body, **GREEDY)
    assert wait_for(lambda: server.metric("llm_engine_requests_running", LLM) == 1)
    assert client.responses.cancel(running.id).status == "cancelled"
    assert wait_for(lambda: server.metric("llm_engine_requests_cancelled_total", LLM) == cancelled + 1)
    assert wait_for(lambda: server.metric("llm_engine_requests_running", LLM) == 0)
    assert client.responses.retrieve(running.id).status == "cancelled"
    assert client.responses.cancel(running.id).status == "cancelled"  # again: as it is
