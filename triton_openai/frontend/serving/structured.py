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
_CODE_BLOCK = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)(?:```|$)", re.DOTALL)


def _call_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": tool.function.name}, "arguments": tool.function.parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def tool_guide(request: ChatCompletionRequest) -> tuple[str, str] | None:
    """tool_choice required or named: the output is constrained to valid call JSON."""
    if not request.uses_tools or request.tool_choice in (None, "auto"):
        return None
    tools = request.tools or []
    choice = request.tool_choice
    if isinstance(choice, NamedToolChoice):
        tool = next(t for t in tools if t.function.name == choice.function.name)
        return "json_schema", json.dumps(_call_schema(tool))
    one_call = {"anyOf": [_call_schema(tool) for tool in tools]}
    if not request.parallel_tool_calls:
        return "json_schema", json.dumps(one_call)
    return "json_schema", json.dumps(
        {"type": "array", "items": one_call, "minItems": 1, "maxItems": MAX_PARALLEL_CALLS}
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
