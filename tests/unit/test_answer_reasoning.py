"""The answer builder with a reasoning split: the events of a stream join into the whole answer,
thoughts first, and tools and JSON are read from what follows them."""

import json
from dataclasses import replace

from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.serving.answer import (
    AnswerBuilder,
    Finished,
    Reasoning,
    ReasoningText,
    TextDelta,
    ToolCallArguments,
    ToolCallStart,
)
from triton_openai.frontend.serving.choices import ChoiceResult
from triton_openai.frontend.triton.base import GenerationChunk

PIECES = ["<thi", "nk>The user", " greets. </th", "ink>\n\nHello", " there."]


def request(**fields) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "Hi"}], **fields})


def chunks(pieces: list[str]) -> list[GenerationChunk]:
    out = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        out.append(GenerationChunk(piece, [i], "stop" if last else None, 4, i + 1))
    return out


def streamed(builder: AnswerBuilder, generated: list[GenerationChunk]) -> list:
    events = []
    for chunk in generated:
        events += builder.feed(chunk)
    return events + builder.finish(generated[-1])


def whole(builder: AnswerBuilder, generated: list[GenerationChunk]):
    result = ChoiceResult()
    for chunk in generated:
        result.add(chunk)
    return builder.whole(result), result


def test_streamed_reasoning_and_text_join_into_the_whole_answer():
    generated = chunks(PIECES)
    events = streamed(AnswerBuilder(request(), reasoning=Reasoning(split=True)), generated)
    thoughts = "".join(e.text for e in events if isinstance(e, ReasoningText))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    last_thought = max(i for i, e in enumerate(events) if isinstance(e, ReasoningText))
    assert last_thought < min(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    answer, result = whole(AnswerBuilder(request(), reasoning=Reasoning(split=True)), generated)
    assert (thoughts, text) == (answer.reasoning, answer.content) == ("The user greets.", "Hello there.")
    assert result.reasoning_tokens == 4 and isinstance(events[-1], Finished)  # the pieces the block (tags too) touches


def test_without_a_split_the_think_block_stays_in_the_text():
    answer, result = whole(AnswerBuilder(request()), chunks(PIECES))
    assert answer.reasoning is None and answer.content == "".join(PIECES) and result.reasoning_tokens == 0


def test_a_prompt_that_opened_the_block_starts_inside_it():
    builder = AnswerBuilder(request(), reasoning=Reasoning(split=True))
    generated = chunks(["Hmm.", "</think>", "Hi."])
    generated[0] = replace(generated[0], rendered_prompt="<|im_start|>assistant\n<think>\n")  # the model tells it
    answer, _ = whole(builder, generated)
    assert (answer.reasoning, answer.content) == ("Hmm.", "Hi.")


def test_tool_calls_are_read_after_the_reasoning():
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    generated = chunks(["<think>Weather", " needed.</think>", call[:20], call[20:]])
    events = streamed(AnswerBuilder(request(tools=tools), reasoning=Reasoning(split=True)), generated)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    arguments = "".join(e.arguments for e in events if isinstance(e, ToolCallArguments))
    assert [s.name for s in starts] == ["get_weather"] and json.loads(arguments) == {"city": "Paris"}
    assert events[-1].finish_reason == "tool_calls"
    answer, _ = whole(AnswerBuilder(request(tools=tools), reasoning=Reasoning(split=True)), generated)
    assert answer.reasoning == "Weather needed." and answer.tool_calls[0].arguments == arguments
