"""Structured output on the wire: response_format, tools, tool_choice and h2oGPT's guided_*."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from triton_openai.frontend.protocol.common import RequestModel, ResponseModel

_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class JsonSchemaFormat(RequestModel):
    name: str = "response"
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool | None = None


class ResponseFormat(RequestModel):
    """`text`, `json_object`, `json_schema` (OpenAI) or `json_code` (h2oGPT: JSON in a fenced
    code block, extracted and repaired by the server)."""

    type: Literal["text", "json_object", "json_schema", "json_code"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format of type json_schema needs a json_schema")
        return self


def _check_function_name(name: str) -> str:
    if not _FUNCTION_NAME.match(name):
        raise ValueError(f"function name {name!r} must be 1-64 letters, digits, '_' or '-'")
    return name


# A tool's name, as every API family restricts it.
FunctionName = Annotated[str, AfterValidator(_check_function_name)]


def check_tools(names: list[str], named: str | None, required: str | None) -> None:
    """What every API family checks of its tools: distinct names, a named tool_choice among
    them, and some tools for a choice that requires a call (`required`: that mode's name)."""
    if required is not None and not names:
        raise ValueError(f"tool_choice {required!r} needs tools")
    if named is not None and named not in names:
        raise ValueError(f"tool_choice names {named!r}, which is not among the tools")
    if len(set(names)) != len(names):
        raise ValueError("tools must have distinct names")


def refuse_hosted_tools(tools: Any, own: tuple[str | None, ...], advice: str) -> Any:
    """A before-validator's check: tools of a `type` other than `own` are the provider's hosted
    tools, which nothing here runs (a 400 naming the tool)."""
    for tool in tools if isinstance(tools, list) else ():
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in own:
            raise ValueError(f"the built-in tool {kind!r} is not available on this server; {advice}")
    return tools


class FunctionDefinition(RequestModel):
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class Tool(RequestModel):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(RequestModel):
    name: str


class NamedToolChoice(RequestModel):
    type: Literal["function"] = "function"
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class GuidedFields(RequestModel):
    """What both chat and completions accept for constrained output (read by
    triton_openai.frontend.serving.structured)."""

    response_format: ResponseFormat | None = None
    # h2oGPT / vLLM extensions, through extra_body.
    guided_json: dict[str, Any] | str | None = None
    guided_regex: str | None = None
    guided_choice: list[str] | None = None
    guided_grammar: str | None = None

    @model_validator(mode="after")
    def _one_guide(self) -> GuidedFields:
        given = [
            name
            for name in ("guided_json", "guided_regex", "guided_choice", "guided_grammar")
            if getattr(self, name) is not None
        ]
        if self.response_format is not None and self.response_format.type in ("json_object", "json_schema"):
            given.append("response_format")
        if len(given) > 1:
            raise ValueError(f"give at most one of {', '.join(given)}")
        if self.guided_choice is not None and not self.guided_choice:
            raise ValueError("guided_choice must not be empty")
        return self


# -- response ----------------------------------------------------------------------------


class FunctionCallOut(ResponseModel):
    name: str
    arguments: str


class ToolCallOut(ResponseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallOut


class FunctionCallDelta(ResponseModel):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(ResponseModel):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta


class TopLogprob(ResponseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(ResponseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(ResponseModel):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class CompletionLogprobs(ResponseModel):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]
