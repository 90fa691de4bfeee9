"""/v1/messages: Anthropic's Messages API request, response, stream events and token count.

Content blocks are told apart by `type`. Tools are custom tools (`name`, `description`,
`input_schema`); Anthropic's server tools (web search, bash, text editor, computer use,
code execution: a `type` other than `custom`) are refused with a 400 naming the tool.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from triton_openai.frontend.protocol.common import RequestModel, ResponseModel
from triton_openai.frontend.protocol.structured import FunctionName, check_tools, refuse_hosted_tools

MAX_STOP_SEQUENCES = 4  # what the engine takes (triton_openai.frontend.protocol.sampling)

# -- request: content blocks -------------------------------------------------------------


class ImageSource(RequestModel):
    type: Literal["base64", "url"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _given(self) -> ImageSource:
        if (self.type == "base64" and not (self.data and self.media_type)) or (self.type == "url" and not self.url):
            raise ValueError("an image source needs media_type and data (base64) or url (url)")
        return self


class DocumentSource(RequestModel):
    type: Literal["base64", "text"]
    media_type: str | None = None
    data: str


class TextBlock(RequestModel):
    type: Literal["text"]
    text: str


class ImageBlock(RequestModel):
    type: Literal["image"]
    source: ImageSource


class DocumentBlock(RequestModel):
    """A PDF (base64) or plain text document; its text goes into the prompt."""

    type: Literal["document"]
    source: DocumentSource
    title: str | None = None


class ToolUseBlock(RequestModel):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(RequestModel):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock] = ""
    is_error: bool = False

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(block.text for block in self.content if isinstance(block, TextBlock))


class ThinkingBlock(RequestModel):
    """Earlier thinking passed back (`thinking` or `redacted_thinking`); not put in the prompt."""

    type: Literal["thinking", "redacted_thinking"]


ContentBlock = Annotated[
    TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock,
    Field(discriminator="type"),
]


class Message(RequestModel):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


# -- request: tools ----------------------------------------------------------------------


class Tool(RequestModel):
    type: Literal["custom"] | None = None
    name: FunctionName
    description: str | None = None
    input_schema: dict[str, Any]


class ToolChoice(RequestModel):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False

    @model_validator(mode="after")
    def _named(self) -> ToolChoice:
        if self.type == "tool" and not self.name:
            raise ValueError("tool_choice of type tool needs a name")
        return self


class OutputFormat(RequestModel):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(RequestModel):
    """Structured output: the answer follows `format`'s JSON schema (constrained decoding)."""

    format: OutputFormat | None = None
    effort: str | None = None  # accepted; no effect on the models served here


# -- request -----------------------------------------------------------------------------


class MessagesInputs(RequestModel):
    """What makes the prompt: the fields of POST /v1/messages/count_tokens."""

    model: str | None = None
    system: str | list[TextBlock] | None = None
    messages: list[Message] = Field(min_length=1)
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    output_config: OutputConfig | None = None

    @field_validator("tools", mode="before")
    @classmethod
    def _custom_tools_only(cls, value: Any) -> Any:
        return refuse_hosted_tools(value, (None, "custom"), "define custom tools instead")

    @model_validator(mode="after")
    def _check_tools(self) -> MessagesInputs:
        choice = self.tool_choice
        named = choice.name if choice is not None and choice.type == "tool" else None
        required = "any" if choice is not None and choice.type == "any" else None
        check_tools([tool.name for tool in self.tools or []], named, required)
        return self

    def system_text(self) -> str | None:
        if isinstance(self.system, list):
            return "\n".join(block.text for block in self.system) or None
        return self.system or None


class MessagesRequest(MessagesInputs):
    max_tokens: int = Field(ge=1)
    # Sampling: older SDKs send these as parameters, newer ones through extra_body.
    stop_sequences: list[str] | None = Field(None, max_length=MAX_STOP_SEQUENCES)
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    stream: bool = False
    metadata: dict[str, Any] | None = None
    # Accepted; a reasoning model's <think> block comes back as a `thinking` block whatever it says.
    thinking: dict[str, Any] | None = None
    ignore_eos: bool | None = None  # extension (vLLM-style): generate until max_tokens


# -- response ----------------------------------------------------------------------------


class TextOut(ResponseModel):
    type: Literal["text"] = "text"
    text: str


class ToolUseOut(ResponseModel):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


class ThinkingOut(ResponseModel):
    """A reasoning model's thoughts (its `<think>` block); unsigned: the signature is empty."""

    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str = ""


ContentOut = Annotated[TextOut | ToolUseOut | ThinkingOut, Field(discriminator="type")]
StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]


class Usage(ResponseModel):
    """Anthropic's counts: `input_tokens` are the prompt tokens the prefix cache did not serve."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class MessageResponse(ResponseModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentOut]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: Usage


class TokenCount(ResponseModel):
    input_tokens: int


# -- stream events -----------------------------------------------------------------------


class MessageStart(ResponseModel):
    type: Literal["message_start"] = "message_start"
    message: MessageResponse


class ContentBlockStart(ResponseModel):
    type: Literal["content_block_start"] = "content_block_start"
    index: int
    content_block: ContentOut


class TextDelta(ResponseModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class ThinkingDelta(ResponseModel):
    type: Literal["thinking_delta"] = "thinking_delta"
    thinking: str


class InputJSONDelta(ResponseModel):
    type: Literal["input_json_delta"] = "input_json_delta"
    partial_json: str


class ContentBlockDelta(ResponseModel):
    type: Literal["content_block_delta"] = "content_block_delta"
    index: int
    delta: TextDelta | ThinkingDelta | InputJSONDelta


class ContentBlockStop(ResponseModel):
    type: Literal["content_block_stop"] = "content_block_stop"
    index: int


class StopDelta(ResponseModel):
    stop_reason: StopReason | None
    stop_sequence: str | None


class DeltaUsage(ResponseModel):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0


class MessageDelta(ResponseModel):
    type: Literal["message_delta"] = "message_delta"
    delta: StopDelta
    usage: DeltaUsage


class MessageStop(ResponseModel):
    type: Literal["message_stop"] = "message_stop"


StreamEvent = MessageStart | ContentBlockStart | ContentBlockDelta | ContentBlockStop | MessageDelta | MessageStop
