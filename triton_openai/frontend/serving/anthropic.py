"""ServingMessages: Anthropic's Messages API (/v1/messages) over chat generation.

A request becomes the chat request that chat completions already runs: `system` the system
message, `tool_use` blocks an assistant message's tool calls, `tool_result` blocks `tool`
messages, images and documents content parts, `tools` function tools, `tool_choice` auto /
any / tool / none the chat modes, `stop_sequences` stop strings. The answer comes back as
`thinking` (a reasoning model's split-off thoughts), `text` and `tool_use` content blocks with
Anthropic's stop reasons, whole or as its stream
events (`message_start`, `content_block_start` / `_delta` / `_stop`, `message_delta`,
`message_stop`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from json_repair import repair_json
from pydantic import ValidationError

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.anthropic import (
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    DeltaUsage,
    DocumentBlock,
    ImageBlock,
    InputJSONDelta,
    Message,
    MessageDelta,
    MessageResponse,
    MessagesInputs,
    MessagesRequest,
    MessageStart,
    MessageStop,
    StopDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    TextOut,
    ThinkingDelta,
    ThinkingOut,
    TokenCount,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseOut,
    Usage,
)
from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.serving import answer
from triton_openai.frontend.serving.chat import ServingChat
from triton_openai.frontend.serving.file_parts import resolve_file_parts
from triton_openai.frontend.serving.files import ServingFiles


class ServingMessages:
    def __init__(self, chat: ServingChat, files: ServingFiles) -> None:
        self.chat = chat
        self.files = files

    async def create(self, request: MessagesRequest, owner: str) -> MessageResponse:
        generation = await self.chat.generate(await self._chat_request(request, owner))
        whole, usage = generation.answers[0], generation.usage
        content: list[Any] = [ThinkingOut(thinking=whole.reasoning)] if whole.reasoning else []
        content += [TextOut(text=whole.content)] if whole.content else []
        content += [ToolUseOut(id=_tool_use_id(c.id), name=c.name, input=_input(c.arguments)) for c in whole.tool_calls]
        reason, sequence = _stop(request, whole.finish_reason, whole.stop_reason)
        return MessageResponse(
            id=_message_id(),
            model=generation.model.name,
            content=content,
            stop_reason=reason,
            stop_sequence=sequence,
            usage=_usage(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens),
        )

    async def create_stream(self, request: MessagesRequest, owner: str) -> AsyncIterator[StreamEvent]:
        generation = await self.chat.generate_stream(await self._chat_request(request, owner))
        return message_events(request, generation)

    async def count_tokens(self, request: MessagesInputs, owner: str) -> TokenCount:
        return TokenCount(input_tokens=await self.chat.prompt_tokens(await self._chat_request(request, owner)))

    async def _chat_request(self, request: MessagesInputs, owner: str) -> ChatCompletionRequest:
        body: dict[str, Any] = {"model": request.model, "messages": chat_messages(request)}
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                }
                for t in request.tools
            ]
            body.update(_tool_choice(request))
        output_format = request.output_config.format if request.output_config else None
        if output_format is not None:
            schema = {"name": "output", "schema": output_format.schema_, "strict": True}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        if isinstance(request, MessagesRequest):
            sampling = {
                "max_tokens": request.max_tokens,
                "stop": request.stop_sequences or None,
                "temperature": request.temperature,
                "top_p": request.top_p,
                "top_k": request.top_k,
                "ignore_eos": request.ignore_eos,
            }
            body.update({key: value for key, value in sampling.items() if value is not None})
        try:
            chat = ChatCompletionRequest.model_validate(body)
        except ValidationError as exc:
            raise errors.from_validation_errors(exc.errors()) from None
        return await resolve_file_parts(chat, self.files, owner)


def chat_messages(request: MessagesInputs) -> list[dict[str, Any]]:
    system = request.system_text()
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in request.messages:
        if isinstance(message.content, str):
            messages.append({"role": message.role, "content": message.content})
        elif message.role == "assistant":
            messages.append(_assistant(message))
        else:
            messages += _user(message)
    return messages


def _assistant(message: Message) -> dict[str, Any]:
    blocks = message.content if isinstance(message.content, list) else []
    text = "".join(block.text for block in blocks if isinstance(block, TextBlock))
    calls = [
        {"id": b.id, "type": "function", "function": {"name": b.name, "arguments": json.dumps(b.input)}}
        for b in blocks
        if isinstance(b, ToolUseBlock)
    ]
    return {"role": "assistant", "content": text or None, **({"tool_calls": calls} if calls else {})}


def _user(message: Message) -> list[dict[str, Any]]:
    """Tool results first (as `tool` messages, answering the calls before), then the user's own parts."""
    messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in message.content if isinstance(message.content, list) else []:
        if isinstance(block, ToolResultBlock):
            text = f"Error: {block.text()}" if block.is_error else block.text()
            messages.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": text})
        elif isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            source = block.source
            url = source.url if source.type == "url" else f"data:{source.media_type};base64,{source.data}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(block, DocumentBlock):
            parts.append(_document(block))
    if parts:
        messages.append({"role": "user", "content": parts})
    return messages


def _document(block: DocumentBlock) -> dict[str, Any]:
    source = block.source
    if source.type == "text":
        return {"type": "text", "text": f"[document: {block.title or 'text'}]\n{source.data}"}
    data_url = f"data:{source.media_type or 'application/pdf'};base64,{source.data}"
    return {"type": "file", "file": {"file_data": data_url, "filename": block.title or "document.pdf"}}


def _tool_choice(request: MessagesInputs) -> dict[str, Any]:
    choice = request.tool_choice
    if choice is None:
        return {}
    modes: dict[str, Any] = {"auto": "auto", "any": "required", "none": "none"}
    mode = modes.get(choice.type) or {"type": "function", "function": {"name": choice.name}}
    return {"tool_choice": mode, "parallel_tool_calls": not choice.disable_parallel_tool_use}


def _stop(request: MessagesRequest, finish_reason: str | None, stop_reason: str | int | None) -> tuple[Any, str | None]:
    """Anthropic's stop reason, and the stop sequence that ended the answer (a stop string of the
    request's; vLLM's stop_reason may also be a stop token id)."""
    if finish_reason == "length":
        return "max_tokens", None
    if finish_reason == "tool_calls":
        return "tool_use", None
    if isinstance(stop_reason, str) and stop_reason in (request.stop_sequences or []):
        return "stop_sequence", stop_reason
    return "end_turn", None


def _usage(prompt_tokens: int, output_tokens: int, cached_tokens: int) -> Usage:
    """Anthropic counts cache reads apart: input_tokens are the prompt tokens the cache did not serve."""
    return Usage(
        input_tokens=prompt_tokens - cached_tokens, output_tokens=output_tokens, cache_read_input_tokens=cached_tokens
    )


def _message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def _tool_use_id(call_id: str) -> str:
    return "toolu_" + call_id.removeprefix("call_")


def _input(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object Anthropic's `input` is (repaired if the model's JSON is broken)."""
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        value = repair_json(arguments, return_objects=True)
    return value if isinstance(value, dict) else {}


async def message_events(request: MessagesRequest, generation: answer.GenerationStream) -> AsyncIterator[StreamEvent]:
    block: int = -1  # the index of the open content block
    kind: str | None = None  # its type
    stop: tuple[Any, str | None] = ("end_turn", None)
    prompt_tokens = cached_tokens = 0

    def close() -> list[StreamEvent]:
        nonlocal kind
        was, kind = kind, None
        return [ContentBlockStop(index=block)] if was is not None else []

    def opened(new_kind: str, content: Any) -> list[StreamEvent]:
        nonlocal block, kind
        events = close()
        block, kind = block + 1, new_kind
        return [*events, ContentBlockStart(index=block, content_block=content)]

    try:
        async for event in generation.events:
            if isinstance(event, answer.Started):
                prompt_tokens, cached_tokens = event.prompt_tokens, event.cached_tokens
                start = MessageResponse(
                    id=_message_id(),
                    model=generation.model.name,
                    content=[],
                    stop_reason=None,
                    stop_sequence=None,
                    usage=_usage(prompt_tokens, 0, cached_tokens),
                )
                yield MessageStart(message=start)
            elif isinstance(event, answer.ReasoningText | answer.TextDelta) and event.text:
                thinking = isinstance(event, answer.ReasoningText)
                wanted = "thinking" if thinking else "text"
                if kind != wanted:
                    for started in opened(wanted, ThinkingOut(thinking="") if thinking else TextOut(text="")):
                        yield started
                delta = ThinkingDelta(thinking=event.text) if thinking else TextDelta(text=event.text)
                yield ContentBlockDelta(index=block, delta=delta)
            elif isinstance(event, answer.ToolCallStart):
                tool = ToolUseOut(id=_tool_use_id(event.id), name=event.name, input={})
                for started in opened("tool_use", tool):
                    yield started
            elif isinstance(event, answer.ToolCallArguments):
                yield ContentBlockDelta(index=block, delta=InputJSONDelta(partial_json=event.arguments))
            elif isinstance(event, answer.Finished):
                for done in close():
                    yield done
                stop = _stop(request, event.finish_reason, event.stop_reason)
            elif isinstance(event, answer.UsageReport):
                usage = DeltaUsage(
                    input_tokens=prompt_tokens - cached_tokens,
                    output_tokens=event.usage.completion_tokens,
                    cache_read_input_tokens=cached_tokens,
                )
                yield MessageDelta(delta=StopDelta(stop_reason=stop[0], stop_sequence=stop[1]), usage=usage)
                yield MessageStop()
    finally:
        await generation.events.aclose()  # type: ignore[attr-defined]
