"""Responses API items: as they are stored (with ids), and as the chat messages of a prompt.

A response keeps its input items and, for `previous_response_id`, the whole conversation
so far as items: earlier inputs, the model's messages and function calls, and the
function call outputs that answered them. `chat_messages` renders such items for the chat
template: function calls join the assistant message before them (as chat's `tool_calls`),
each output becomes a `tool` message, so earlier tool calls and their results stay in
the prompt. Reasoning items are kept in the items and left out of the prompt.
"""

from __future__ import annotations

import secrets
from typing import Any

from triton_openai.frontend.protocol.responses import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    MessageItem,
    OutputItem,
    ReasoningItem,
)

_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def stored_items(given: str | list[InputItem]) -> list[dict[str, Any]]:
    """The input as items with ids and statuses, their content always a list of parts."""
    if isinstance(given, str):
        given = [MessageItem(role="user", content=given)]
    return [_stored(item) for item in given]


def _stored(item: InputItem) -> dict[str, Any]:
    data = item.model_dump(mode="json", exclude_none=True, by_alias=True)
    data["id"] = item.id or new_id(_PREFIXES[item.type])
    if isinstance(item, MessageItem):
        data["content"] = _parts(item)
    if not isinstance(item, ReasoningItem):
        data["status"] = "completed"
    return data


def _parts(message: MessageItem) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        if message.role == "assistant":
            return [{"type": "output_text", "text": message.content, "annotations": []}]
        return [{"type": "input_text", "text": message.content}]
    parts = [part.model_dump(mode="json", exclude_none=True) for part in message.content]
    for part in parts:
        if part["type"] == "output_text":
            part.setdefault("annotations", [])
    return parts


def output_items(output: list[OutputItem]) -> list[dict[str, Any]]:
    """A response's output, as items of the conversation a later response continues."""
    return [item.model_dump(mode="json", exclude_none=True) for item in output]


def chat_messages(items: list[dict[str, Any]], instructions: str | None) -> list[dict[str, Any]]:
    """Chat messages for the items (and the instructions first, as the system message)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item))
        elif kind == "function_call":
            _add_call(messages, FunctionCallItem.model_validate(item))
        elif kind == "function_call_output":
            output = FunctionCallOutputItem.model_validate(item)
            messages.append({"role": "tool", "tool_call_id": output.call_id, "content": _output_text(output)})
    return messages


def _message(item: dict[str, Any]) -> dict[str, Any]:
    content = item["content"]
    if isinstance(content, str):
        return {"role": item["role"], "content": content}
    if item["role"] == "assistant":
        return {"role": "assistant", "content": "".join(p.get("text") or p.get("refusal") or "" for p in content)}
    return {"role": item["role"], "content": [_chat_part(part) for part in content]}


def _chat_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind == "input_image":
        return {"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail")}}
    if kind == "input_file":
        keys = ("file_id", "file_data", "filename")
        return {"type": "file", "file": {key: part[key] for key in keys if part.get(key)}}
    return {"type": "text", "text": part.get("text") or part.get("refusal") or ""}


def _add_call(messages: list[dict[str, Any]], call: FunctionCallItem) -> None:
    """A call joins the assistant message just before it (parallel calls share one message)."""
    tool_call = {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(tool_call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [tool_call]})


def _output_text(output: FunctionCallOutputItem) -> str:
    if isinstance(output.output, str):
        return output.output
    return "\n".join(getattr(part, "text", "") for part in output.output if getattr(part, "text", None))
