"""/v1/responses: OpenAI's Responses API request, input items, response object and stream events.

Input items are told apart by `type` (a message may leave it out, as the SDK's "easy"
messages do). Tools are function tools in the API's flat form; OpenAI's hosted tools
(web search, file search, code interpreter, ...) are refused with a 400 naming the tool.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from triton_openai.frontend.protocol.common import RequestModel, ResponseModel
from triton_openai.frontend.protocol.structured import FunctionName, check_tools, refuse_hosted_tools

LOGPROBS_INCLUDE = "message.output_text.logprobs"
MAX_METADATA_KEYS = 16

# -- request: content parts and input items ----------------------------------------------


class InputText(RequestModel):
    type: Literal["input_text"]
    text: str


class InputImage(RequestModel):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: str = "auto"

    @model_validator(mode="after")
    def _source_given(self) -> InputImage:
        if not (self.image_url or self.file_id):
            raise ValueError("an input_image needs image_url or file_id")
        return self


class InputFile(RequestModel):
    type: Literal["input_file"]
    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None
    file_url: str | None = None

    @model_validator(mode="after")
    def _source_given(self) -> InputFile:
        if self.file_url and not (self.file_id or self.file_data):
            raise ValueError("input_file by file_url is not supported here; send file_id or file_data")
        if not (self.file_id or self.file_data):
            raise ValueError("an input_file needs file_id or file_data")
        return self


class OutputTextPart(RequestModel):
    """An earlier assistant message's text, passed back as input."""

    type: Literal["output_text"]
    text: str


class RefusalPart(RequestModel):
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[InputText | InputImage | InputFile | OutputTextPart | RefusalPart, Field(discriminator="type")]


class MessageItem(RequestModel):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    id: str | None = None
    status: str | None = None


class FunctionCallItem(RequestModel):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(RequestModel):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str | list[ContentPart]
    id: str | None = None
    status: str | None = None


class ReasoningItem(RequestModel):
    """An earlier reasoning item passed back; it is kept in the items, not put in the prompt."""

    type: Literal["reasoning"]
    id: str | None = None
    summary: list[dict[str, Any]] = Field(default_factory=list)
    content: list[dict[str, Any]] | None = None
    encrypted_content: str | None = None


_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")


def _item_type(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type") or "message")
    return str(getattr(value, "type", "message"))


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[ReasoningItem, Tag("reasoning")],
    Discriminator(_item_type),
]

# -- request: tools, tool choice, text format --------------------------------------------


class FunctionTool(RequestModel):
    type: Literal["function"] = "function"
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionToolChoice(RequestModel):
    type: Literal["function"]
    name: str


class AllowedToolsChoice(RequestModel):
    """Only these tools may be called (`mode` auto or required)."""

    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


ToolChoice = Literal["none", "auto", "required"] | FunctionToolChoice | AllowedToolsChoice


class TextFormat(RequestModel):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    description: str | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> TextFormat:
        if self.type == "json_schema" and self.schema_ is None:
            raise ValueError("text.format of type json_schema needs a schema")
        return self


class TextConfig(RequestModel):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


# -- request -----------------------------------------------------------------------------


class ResponseInputs(RequestModel):
    """What makes a response's prompt: the fields of POST /v1/responses/input_tokens."""

    model: str | None = None
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    previous_response_id: str | None = None
    user: str | None = None

    @field_validator("input")
    @classmethod
    def _input_not_empty(cls, value: str | list[Any] | None) -> str | list[Any] | None:
        if isinstance(value, list) and not value:
            raise ValueError("input must not be an empty list")
        return value

    @field_validator("input", mode="before")
    @classmethod
    def _known_item_types(cls, value: Any) -> Any:
        for index, item in enumerate(value if isinstance(value, list) else ()):
            kind = _item_type(item)
            if kind not in _ITEM_TYPES:
                raise ValueError(f"input[{index}]: items of type {kind!r} are not supported by this server")
        return value

    @field_validator("tools", mode="before")
    @classmethod
    def _function_tools_only(cls, value: Any) -> Any:
        return refuse_hosted_tools(value, (None, "function"), "define function tools instead")

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _function_choice_only(cls, value: Any) -> Any:
        kind = value.get("type") if isinstance(value, dict) else None
        if kind not in (None, "function", "allowed_tools"):
            raise ValueError(f"tool_choice of type {kind!r} names a built-in tool, which this server does not have")
        return value

    @model_validator(mode="after")
    def _check_tools(self) -> ResponseInputs:
        choice = self.tool_choice
        named = choice.name if isinstance(choice, FunctionToolChoice) else None
        check_tools([tool.name for tool in self.tools or []], named, "required" if choice == "required" else None)
        return self


class ResponsesRequest(ResponseInputs):
    input: str | list[InputItem]
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    store: bool | None = None
    metadata: dict[str, str] | None = None
    include: list[str] | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    truncation: Literal["auto", "disabled"] | None = None
    stream: bool | None = None
    background: bool | None = None
    reasoning: dict[str, Any] | None = None  # its `effort` reaches the chat template as reasoning_effort
    # Extensions (vLLM-style), through the SDK's extra_body.
    seed: int | None = Field(None, ge=0, le=(1 << 64) - 1)
    top_k: int | None = Field(None, ge=-1)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    repetition_penalty: float | None = Field(None, gt=0.0)
    ignore_eos: bool | None = None

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            if len(value) > MAX_METADATA_KEYS:
                raise ValueError(f"metadata takes at most {MAX_METADATA_KEYS} keys")
            if any(len(k) > 64 or len(v) > 512 for k, v in value.items()):
                raise ValueError("metadata keys take at most 64 characters, values 512")
        return value

    @model_validator(mode="after")
    def _check_background(self) -> ResponsesRequest:
        if self.background and self.store is False:
            raise ValueError("background responses are stored: background needs store true")
        if self.background and self.stream:
            raise ValueError("background responses cannot be streamed here; create one, then retrieve it")
        return self

    @property
    def wants_logprobs(self) -> bool:
        return LOGPROBS_INCLUDE in (self.include or []) or bool(self.top_logprobs)


# -- response ----------------------------------------------------------------------------


class TopLogprob(ResponseModel):
    token: str
    logprob: float
    bytes: list[int]


class OutputLogprob(ResponseModel):
    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[TopLogprob]


class OutputText(ResponseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    logprobs: list[OutputLogprob] | None = None


class OutputMessage(ResponseModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    status: Literal["in_progress", "completed", "incomplete"]
    content: list[OutputText]


class FunctionCall(ResponseModel):
    id: str
    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"]


class ReasoningTextPart(ResponseModel):
    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class ReasoningOutput(ResponseModel):
    """A reasoning model's thoughts (its `<think>` block), before the message they led to."""

    id: str
    type: Literal["reasoning"] = "reasoning"
    summary: list[dict[str, Any]] = Field(default_factory=list)
    content: list[ReasoningTextPart]
    status: Literal["in_progress", "completed", "incomplete"]


OutputItem = Annotated[OutputMessage | FunctionCall | ReasoningOutput, Field(discriminator="type")]


class InputTokensDetails(ResponseModel):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(ResponseModel):
    reasoning_tokens: int = 0


class ResponseUsage(ResponseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int


class ResponseError(ResponseModel):
    code: str
    message: str


class IncompleteDetails(ResponseModel):
    reason: Literal["max_output_tokens", "content_filter"]


class ToolOut(ResponseModel):
    type: Literal["function"] = "function"
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class TextOut(ResponseModel):
    format: dict[str, Any]  # the request's text.format as given (`{"type": "text"}` by default)


ResponseStatus = Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]


class ResponseObject(ResponseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: ResponseStatus
    completed_at: int | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: list[OutputItem]
    parallel_tool_calls: bool
    previous_response_id: str | None = None
    background: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_logprobs: int | None = None
    text: TextOut
    tool_choice: Any
    tools: list[ToolOut]
    truncation: Literal["auto", "disabled"]
    usage: ResponseUsage | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class ResponseDeleted(ResponseModel):
    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool = True


class InputItemList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class InputTokens(ResponseModel):
    object: Literal["response.input_tokens"] = "response.input_tokens"
    input_tokens: int


# -- stream events (each with its sequence_number) ---------------------------------------


class StreamEvent(ResponseModel):
    type: str
    sequence_number: int = 0


class ResponseEvent(StreamEvent):
    """response.created / in_progress / completed / incomplete / failed / cancelled."""

    response: ResponseObject


class OutputItemEvent(StreamEvent):
    """response.output_item.added / done."""

    output_index: int
    item: OutputItem


class ContentPartEvent(StreamEvent):
    """response.content_part.added / done."""

    item_id: str
    output_index: int
    content_index: int
    part: Annotated[OutputText | ReasoningTextPart, Field(discriminator="type")]


class TextDeltaEvent(StreamEvent):
    type: str = "response.output_text.delta"
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[OutputLogprob] = Field(default_factory=list)


class TextDoneEvent(StreamEvent):
    type: str = "response.output_text.done"
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[OutputLogprob] = Field(default_factory=list)


class ReasoningDeltaEvent(StreamEvent):
    type: str = "response.reasoning_text.delta"
    item_id: str
    output_index: int
    content_index: int
    delta: str


class ReasoningDoneEvent(StreamEvent):
    type: str = "response.reasoning_text.done"
    item_id: str
    output_index: int
    content_index: int
    text: str


class ArgumentsDeltaEvent(StreamEvent):
    type: str = "response.function_call_arguments.delta"
    item_id: str
    output_index: int
    delta: str


class ArgumentsDoneEvent(StreamEvent):
    type: str = "response.function_call_arguments.done"
    item_id: str
    output_index: int
    arguments: str


class ErrorEvent(StreamEvent):
    type: str = "error"
    code: str | None = None
    message: str
    param: str | None = None
