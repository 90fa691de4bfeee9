"""From a request's structured-output fields to engine guides and prompt hints, and back
from generated text to OpenAI's message fields (tool calls, json_code, logprobs)."""

from __future__ import annotations

import json
import re
from typing import Any

from json_repair import repair_json

from triton_openai import contract as t
from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.protocol.structured import (
    ChoiceLogprobs,
    CompletionLogprobs,
    GuidedFields,
    NamedToolChoice,
    TokenLogprob,
    Tool,
)

# Parallel calls per answer under tool_choice "required": a grammar must be able to end.
MAX_PARALLEL_CALLS = 8
# llguidance's JSON options inside a Lark grammar: one line, as for json_schema guides (models/llm/guided.py).
_ONE_LINE = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
_CODE_BLOCK = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)(?:```|$)", re.DOTALL)


def _call_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": tool.function.name}, "arguments": tool.function.parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def calls_are_tagged(request: ChatCompletionRequest) -> bool:
    """Whether tool calls come as `<tool_call>` blocks in free text (tool_choice auto), rather
    than as the whole output, a JSON call or array of calls (required or named)."""
    return request.tool_choice in (None, "auto")


def tool_guide(request: ChatCompletionRequest) -> tuple[str, str] | None:
    """tool_choice required or named: the output is constrained to valid call JSON. Under
    auto with a JSON response format: tagged calls, or the answer in that format."""
    if not request.uses_tools:
        return None
    tools = request.tools or []
    choice = request.tool_choice
    if calls_are_tagged(request):
        answer = request.guide()
        return None if answer is None else ("lark", _calls_or_answer(tools, answer, request.parallel_tool_calls))
    if isinstance(choice, NamedToolChoice):
        tool = next(t for t in tools if t.function.name == choice.function.name)
        return "json_schema", json.dumps(_call_schema(tool))
    one_call = {"anyOf": [_call_schema(tool) for tool in tools]}
    if not request.parallel_tool_calls:
        return "json_schema", json.dumps(one_call)
    return "json_schema", json.dumps(
        {"type": "array", "items": one_call, "minItems": 1, "maxItems": MAX_PARALLEL_CALLS}
    )


def _calls_or_answer(tools: list[Tool], answer: tuple[str, str], parallel: bool) -> str:
    """A Lark grammar: `<tool_call>` blocks (one, or up to MAX_PARALLEL_CALLS), or the JSON answer."""
    schema = answer[1] if answer[1].strip() else '{"type": "object"}'
    one_call = json.dumps({"anyOf": [_call_schema(tool) for tool in tools], "x-guidance": _ONE_LINE})
    answer_schema = json.dumps({**json.loads(schema), "x-guidance": _ONE_LINE})
    calls = f'call ("\\n" call)~0..{MAX_PARALLEL_CALLS - 1}' if parallel else "call"
    return (
        f"start: answer | calls\n"
        f"answer: %json {answer_schema}\n"
        f"calls: {calls}\n"
        f'call: "<tool_call>\\n" %json {one_call} "\\n</tool_call>"\n'
    )


def guide_inputs(guide: tuple[str, str] | None) -> dict[str, Any]:
    if guide is None:
        return {}
    return {t.GUIDE_TYPE: guide[0], t.GUIDE: guide[1]}


def format_hint(request: GuidedFields) -> str | None:
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
