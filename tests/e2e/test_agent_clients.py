"""Agent frameworks, unmodified, against /v1/responses: the OpenAI Agents SDK running an agent
with a function tool, and LangChain's ChatOpenAI with use_responses_api=True."""

from __future__ import annotations

import asyncio

import openai
import pytest
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.e2e.conftest import MODEL


@pytest.fixture(scope="module")
def responses_model(server):
    set_tracing_disabled(True)  # traces would go to OpenAI's servers

    def make() -> OpenAIResponsesModel:
        client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=120)
        return OpenAIResponsesModel(model=MODEL, openai_client=client)

    return make


def test_an_agent_calls_its_function_tool(responses_model):
    cities: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        cities.append(city)
        return f"It is sunny in {city}."

    agent = Agent(
        name="weather",
        instructions="Look the weather up with the tool.",
        tools=[get_weather],
        model=responses_model(),
        # The 135M model is held to a call by the grammar; the tool's result is the answer.
        model_settings=ModelSettings(tool_choice="required", temperature=0, max_tokens=60),
        tool_use_behavior="stop_on_first_tool",
    )
    result = asyncio.run(Runner.run(agent, "What is the weather in Paris?", max_turns=2))
    assert len(cities) == 1 and cities[0].strip()
    assert result.final_output == f"It is sunny in {cities[0]}."
    calls = [item for item in result.new_items if item.type == "tool_call_item"]
    assert len(calls) == 1 and calls[0].raw_item.name == "get_weather"


def test_an_agent_returns_its_output_type(responses_model):
    class Capital(BaseModel):
        city: str

    agent = Agent(
        name="geography",
        instructions="Answer the question.",
        model=responses_model(),
        output_type=Capital,
        model_settings=ModelSettings(temperature=0, max_tokens=40),
    )
    result = asyncio.run(Runner.run(agent, "What is the capital of France?", max_turns=1))
    assert isinstance(result.final_output, Capital) and result.final_output.city


def test_langchain_chat_openai_on_the_responses_api(server):
    llm = ChatOpenAI(
        base_url=server.base_url + "/v1",
        api_key="EMPTY",
        model=MODEL,
        use_responses_api=True,
        temperature=0,
        max_tokens=24,
        max_retries=0,
    )
    message = llm.invoke("What is the capital of France?")
    assert "Paris" in message.text and message.response_metadata["id"].startswith("resp_")
    streamed = "".join(chunk.text for chunk in llm.stream("What is the capital of France?"))
    assert streamed == message.text
    tools = llm.bind_tools(
        [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        tool_choice="get_weather",
    )  # fmt: skip
    called = tools.invoke("What is the weather in Paris?")
    assert called.tool_calls[0]["name"] == "get_weather" and "city" in called.tool_calls[0]["args"]
