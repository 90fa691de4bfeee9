"""/v1/chat/completions: request, response and stream chunk types."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from triton_openai.frontend.protocol.common import RequestModel, ResponseModel, Usage
from triton_openai.frontend.protocol.sampling import SamplingFields
from triton_openai.frontend.protocol.structured import (
    ChoiceLogprobs,
    GuidedFields,
    NamedToolChoice,
    Tool,
    ToolCallDelta,
    ToolCallOut,
    ToolChoice,
    check_tools,
)
from triton_openai.frontend.triton.jobs import ChatPrompt

# -- request -----------------------------------------------------------------------------


class FileRef(RequestModel):
    """A file content part's file: one uploaded to /v1/files, or inline as a base64 data URL."""

    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


class ImageURL(RequestModel):
    """An image part's image: an http(s) URL the server fetches, or a `data:image/...;base64,` URI."""

    url: str = Field(min_length=1)
    detail: str | None = None  # auto, low, high, original: the model's processor decides the resolution


class ContentPart(RequestModel):
    """A part of a message's content: `{"type": "text", "text": ...}`, a file, an image, or another kind.

    File parts are replaced by text parts (the file's text) before the prompt is rendered
    (triton_openai.frontend.serving.file_parts); image parts go to models that take images
    (triton_openai.frontend.serving.image_inputs)."""

    type: str
    text: str | None = None
    file: FileRef | None = None
    image_url: ImageURL | None = None

    @field_validator("image_url", mode="before")
    @classmethod
    def _url_as_string(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value  # some clients send the URL alone


class FunctionCall(RequestModel):
    name: str
    arguments: str = "{}"


class ToolCall(RequestModel):
    id: str | None = None
    type: str = "function"
    function: FunctionCall


class ChatMessage(RequestModel):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The content as one string: the text parts joined by newlines."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        texts = []
        for part in self.content:
            if part.type == "file" and part.file is not None:
                raise ValueError("file content parts must be resolved to text first")
            if part.type != "text" or part.text is None:
                raise ValueError(f"content parts of type {part.type!r} are not supported by this model")
            texts.append(part.text)
        return "\n".join(texts)

    def characters(self) -> int:
        """Characters of the content's text (what the chat template copies into the prompt)."""
        if isinstance(self.content, str):
            return len(self.content)
        return sum(len(part.text or "") for part in self.content or ())

    @property
    def has_images(self) -> bool:
        return isinstance(self.content, list) and any(part.type == "image_url" for part in self.content)

    def content_parts(self) -> list[dict[str, Any]]:
        """The content as multimodal chat templates take it: text parts and `{"type": "image"}` placeholders."""
        parts = self.content if isinstance(self.content, list) else []
        return [{"type": "image"} if p.type == "image_url" else {"type": "text", "text": p.text or ""} for p in parts]

    def for_template(self) -> dict[str, Any]:
        """The message as chat templates expect it (developer is treated as system)."""
        message: dict[str, Any] = {
            "role": "system" if self.role == "developer" else self.role,
            "content": self.content_parts() if self.has_images else self.text(),
        }
        if self.name is not None:
            message["name"] = self.name
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        if self.tool_calls:
            message["tool_calls"] = [_template_tool_call(call) for call in self.tool_calls]
        return message


def _template_tool_call(call: ToolCall) -> dict[str, Any]:
    # Templates iterate over arguments as a mapping; the API carries them as a JSON string.
    try:
        arguments: Any = json.loads(call.function.arguments)
    except json.JSONDecodeError:
        arguments = call.function.arguments
    return {
        "id": call.id,
        "type": call.type,
        "function": {"name": call.function.name, "arguments": arguments},
    }


class ChatCompletionRequest(SamplingFields, GuidedFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool = True
    # Accepted as OpenAI has them; they reach the chat template as variables of those names
    # (templates that read them, gpt-oss's for one, use them; others ignore them).
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    # vLLM: more template variables (Qwen3's enable_thinking, ...).
    chat_template_kwargs: dict[str, Any] | None = None
    # h2oGPT: a system prompt for conversations that bring none.
    system_prompt: str | None = None
    # h2oGPT's document Q&A (triton_openai.frontend.serving.document_chat): which collection (LLM: none,
    # UserData / MyData: the caller's documents, another name: a shared collection), what to
    # do with it, how many chunks to retrieve, which files; or the context given directly.
    langchain_mode: str | None = Field(None, max_length=64)
    langchain_action: Literal["Query", "Summarize", "query", "summarize"] = "Query"
    top_k_docs: int = Field(4, ge=-1, le=100)  # -1: as many as fit (100)
    chunk_size: int | None = Field(None, ge=100, le=100_000)  # for text_context_list, as h2oGPT
    document_choice: list[str] | None = None
    text_context_list: list[str] | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _check_logprobs_and_tools(self) -> ChatCompletionRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        choice = self.tool_choice
        named = choice.function.name if isinstance(choice, NamedToolChoice) else None
        check_tools(
            [tool.function.name for tool in self.tools or []], named, "required" if choice == "required" else None
        )
        # A JSON response_format goes with tools (the answer's format when no tool is called);
        # guided_* extensions do not.
        if self.uses_tools and not self._json_format_only():
            raise ValueError("tools cannot be combined with guided decoding")
        return self

    def _json_format_only(self) -> bool:
        guided = (self.guided_json, self.guided_regex, self.guided_choice, self.guided_grammar)
        return all(g is None for g in guided)

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"

    def logprobs_count(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None

    def prompt_characters(self) -> int:
        return sum(message.characters() for message in self.messages)

    @field_validator("messages")
    @classmethod
    def _check_messages(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        for message in messages:
            for part in message.content if isinstance(message.content, list) else ():
                if part.type == "file":
                    if part.file is None or not (part.file.file_id or part.file.file_data):
                        raise ValueError("a file content part needs file.file_id or file.file_data")
                elif part.type == "image_url":
                    if part.image_url is None:
                        raise ValueError("an image_url content part needs image_url.url")
                    if message.role != "user":
                        raise ValueError("images may be sent in user messages only")
                elif part.type != "text" or part.text is None:
                    raise ValueError(f"content parts of type {part.type!r} are not supported by this model")
        return messages

    def image_urls(self) -> list[str]:
        """The URLs of the image parts, in the order the prompt holds them."""
        return [
            part.image_url.url
            for message in self.messages
            if isinstance(message.content, list)
            for part in message.content
            if part.type == "image_url" and part.image_url is not None
        ]

    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def template_messages(self, hint: str | None = None) -> list[dict[str, Any]]:
        """Messages for the chat template; `hint` (e.g. the JSON format) joins the system prompt."""
        messages = [m.for_template() for m in self.messages]
        if self.system_prompt and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        if hint:
            if messages[0]["role"] == "system":
                messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{hint}".strip()}
            else:
                messages.insert(0, {"role": "system", "content": hint})
        return messages

    def chat_prompt(self, hint: str | None = None) -> ChatPrompt:
        """The prompt for the chat template; `hint` joins the system prompt. Image parts are
        `{"type": "image"}` placeholders: the serving code fetches `image_urls()`."""
        return ChatPrompt(self.template_messages(hint), self._template_tools(), self._template_kwargs())

    def _template_kwargs(self) -> dict[str, Any] | None:
        """The chat template's extra variables (None: none)."""
        values = {name: getattr(self, name) for name in ("reasoning_effort", "verbosity") if getattr(self, name)}
        values.update(self.chat_template_kwargs or {})
        return values or None

    def _template_tools(self) -> list[dict[str, Any]] | None:
        if not self.uses_tools:
            return None
        return [tool.model_dump(exclude_none=True, by_alias=True) for tool in self.tools or []]


# -- response ----------------------------------------------------------------------------


class Source(ResponseModel):
    """A document chunk (or a given context) that document Q&A put into the prompt, as [index]."""

    index: int
    text: str
    file_id: str | None = None
    filename: str | None = None
    chunk_index: int | None = None
    score: float | None = None  # cosine similarity to the question


class AssistantMessage(ResponseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallOut] | None = None
    reasoning_content: str | None = None  # extension (DeepSeek, vLLM): a reasoning model's <think> text
    sources: list[Source] | None = None  # extension: document Q&A's sources (the OpenAI SDK ignores it)


class ChatChoice(ResponseModel):
    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None
    # vLLM's extension: the stop string that ended the output (null: EOS, the length limit, none)
    stop_reason: int | str | None = None


class ChatCompletionResponse(ResponseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None


class DeltaMessage(ResponseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    sources: list[Source] | None = None  # extension: on the first chunk of each choice


class ChatChunkChoice(ResponseModel):
    index: int
    delta: DeltaMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None
    stop_reason: int | str | None = None  # set on a choice's last chunk, as vLLM streams it


class ChatCompletionChunk(ResponseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    system_fingerprint: str | None = None
    usage: Usage | None = None
