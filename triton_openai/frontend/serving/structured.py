"""Structured output: a request's response_format, guided_* fields, tools and tool_choice read
in one place (OutputConstraints: the engine's guide, the prompt's hint, how to read the
output), and generated text back into OpenAI's fields (json_code, logprobs)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from json_repair import repair_json

from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.protocol.structured import (
    ChoiceLogprobs,
    CompletionLogprobs,
    GuidedFields,
    NamedToolChoice,
    TokenLogprob,
    Tool,
)
from triton_openai.frontend.triton.jobs import Guide

# Parallel calls per answer under tool_choice "required": a grammar must be able to end.
MAX_PARALLEL_CALLS = 8
# llguidance's JSON options inside a Lark grammar: one line, as for json_schema guides (models/llm/guided.py).
_ONE_LINE = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
_CODE_BLOCK = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)(?:```|$)", re.DOTALL)


@dataclass(frozen=True)
class OutputConstraints:
    """What a request asks of its output, read once (here only) from its response_format,
    h2oGPT's guided_* fields, tools and tool_choice."""

    guide: Guide | None = None  # what the engine holds the output to
    hint: str | None = None  # a system-prompt line naming that format to the model
    tool_calls: bool = False  # the output is read for tool calls
    tagged_calls: bool = False  # as `<tool_call>` blocks in free text (auto), not the whole output as JSON
    json_code: bool = False  # h2oGPT's json_code: the answer is the JSON of a fenced block, repaired


def completion_constraints(request: GuidedFields) -> OutputConstraints:
    return OutputConstraints(guide=_asked_guide(request))


def chat_constraints(request: ChatCompletionRequest) -> OutputConstraints:
    """A chat request's: under tool_choice required or named the output is valid call JSON;
    under auto with a JSON response format, tagged calls or the answer in that format."""
    asked, format_ = _asked_guide(request), request.response_format
    json_code = format_ is not None and format_.type == "json_code"
    if not request.uses_tools:
        return OutputConstraints(guide=asked, hint=_format_hint(request), json_code=json_code)
    tools = request.tools or []
    tagged = request.tool_choice in (None, "auto")
    if tagged:
        guide = None if asked is None else Guide("lark", _calls_or_answer(tools, asked, request.parallel_tool_calls))
    else:
        guide = Guide("json_schema", json.dumps(_calls_schema(request)))
    return OutputConstraints(guide, _format_hint(request), tool_calls=True, tagged_calls=tagged, json_code=json_code)


def _asked_guide(request: GuidedFields) -> Guide | None:
    """The guide that response_format or a guided_* field asks for (at most one is given)."""
    if request.guided_json is not None:
        schema = request.guided_json if isinstance(request.guided_json, str) else json.dumps(request.guided_json)
        return Guide("json_schema", schema)
    if request.guided_regex is not None:
        return Guide("regex", request.guided_regex)
    if request.guided_choice is not None:
        return Guide("choice", json.dumps(request.guided_choice))
    if request.guided_grammar is not None:
        return Guide("grammar", request.guided_grammar)
    format_ = request.response_format
    if format_ is not None and format_.type == "json_object":
        return Guide("json_object", "")
    if format_ is not None and format_.type == "json_schema" and format_.json_schema is not None:
        return Guide("json_schema", json.dumps(format_.json_schema.schema_))
    return None


def _call_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": tool.function.name}, "arguments": tool.function.parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def _calls_schema(request: ChatCompletionRequest) -> dict[str, Any]:
    """tool_choice required or named: the whole output is one call (or an array of calls)."""
    tools, choice = request.tools or [], request.tool_choice
    if isinstance(choice, NamedToolChoice):
        return _call_schema(next(t for t in tools if t.function.name == choice.function.name))
    one_call = {"anyOf": [_call_schema(tool) for tool in tools]}
    if not request.parallel_tool_calls:
        return one_call
    return {"type": "array", "items": one_call, "minItems": 1, "maxItems": MAX_PARALLEL_CALLS}


def _calls_or_answer(tools: list[Tool], answer: Guide, parallel: bool) -> str:
    """A Lark grammar: `<tool_call>` blocks (one, or up to MAX_PARALLEL_CALLS), or the JSON answer."""
    schema = answer.text if answer.text.strip() else '{"type": "object"}'
    one_call = json.dumps({"anyOf": [_call_schema(tool) for tool in tools], "x-guidance": _ONE_LINE})
    answer_schema = json.dumps({**json.loads(schema), "x-guidance": _ONE_LINE})
    calls = f'call ("\\n" call)~0..{MAX_PARALLEL_CALLS - 1}' if parallel else "call"
    return (
        f"start: answer | calls\n"
        f"answer: %json {answer_schema}\n"
        f"calls: {calls}\n"
        f'call: "<tool_call>\\n" %json {one_call} "\\n</tool_call>"\n'
    )


def _format_hint(request: GuidedFields) -> str | None:
    """A system-prompt line that tells the model the format the grammar will hold it to."""
    response_format = request.response_format
    if response_format is None:
        return None
    if response_format.type == "json_object":
        return "Respond only with a JSON object."
    if response_format.type == "json_schema" and response_format.json_schema is not None:
        schema = json.dumps(response_format.json_schema.schema_)
        return f"Respond only with JSON that follows this JSON schema:\n{schema}"
    if response_format.type == "json_code":
        return "Respond with JSON inside a ```json code block."
    return None


def extract_json_code(text: str) -> str:
    """h2oGPT's json_code: the JSON of the (first) fenced block, or of the whole text, repaired."""
    match = _CODE_BLOCK.search(text)
    candidate = match.group(1) if match else text
    repaired = repair_json(candidate, ensure_ascii=False)
    return repaired if isinstance(repaired, str) and repaired else "{}"


def chat_logprobs(entries: list[dict[str, Any]]) -> ChoiceLogprobs:
    return ChoiceLogprobs(content=[TokenLogprob.model_validate(e) for e in entries], refusal=None)


def completion_logprobs(entries: list[dict[str, Any]], offset: int) -> CompletionLogprobs:
    """The legacy completions format; `offset` is where the first token starts in the text."""
    tokens, offsets = [], []
    for entry in entries:
        tokens.append(entry["token"])
        offsets.append(offset)
        offset += len(entry["token"])
    return CompletionLogprobs(
        tokens=tokens,
        token_logprobs=[e["logprob"] for e in entries],
        top_logprobs=[{top["token"]: top["logprob"] for top in e["top_logprobs"]} for e in entries],
        text_offset=offsets,
    )
