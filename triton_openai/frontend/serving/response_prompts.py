"""From a Responses request and its conversation items to the chat request that runs it.

The items become chat messages (triton_openai.frontend.serving.response_items), image parts given by
file id become data URLs and file parts text (as in chat), function tools chat tools,
`text.format` a response_format, `max_output_tokens` the output limit, `reasoning.effort`
the chat template's reasoning_effort. With
`truncation: "auto"` the oldest items go, a turn at a time, until the prompt and the
output limit fit the model's context; otherwise a prompt that does not fit is a 400.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import Any

from pydantic import ValidationError

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.protocol.responses import (
    AllowedToolsChoice,
    FunctionToolChoice,
    ResponseInputs,
    ResponsesRequest,
)
from triton_openai.frontend.serving.chat import ServingChat
from triton_openai.frontend.serving.file_parts import resolve_file_parts
from triton_openai.frontend.serving.files import ServingFiles
from triton_openai.frontend.serving.response_items import chat_messages


class ResponsePrompts:
    def __init__(self, chat: ServingChat, files: ServingFiles) -> None:
        self.chat = chat
        self.files = files

    async def chat_request(
        self, request: ResponseInputs, context: list[dict[str, Any]], owner: str
    ) -> ChatCompletionRequest:
        items = [await self._with_image_urls(item, owner) for item in context]
        chat = await self._build(request, items, owner)
        if isinstance(request, ResponsesRequest) and request.truncation == "auto":
            return await self._fitted(request, items, chat, owner)
        return chat

    async def _build(self, request: ResponseInputs, items: list[dict[str, Any]], owner: str) -> ChatCompletionRequest:
        chat = _chat_request(request, chat_messages(items, request.instructions))
        return await resolve_file_parts(chat, self.files, owner)

    async def _fitted(
        self, request: ResponsesRequest, items: list[dict[str, Any]], chat: ChatCompletionRequest, owner: str
    ) -> ChatCompletionRequest:
        """Drop the oldest turns (a user message and what answered it) until the prompt fits."""
        model = await self.chat.registry.resolve_llm(request.model, chat=True)
        if not model.max_model_len:
            return chat
        budget = model.max_model_len - (request.max_output_tokens or 1)
        while await self.chat.prompt_tokens(chat) > budget:
            later = [i for i, item in enumerate(items) if i > 0 and _starts_turn(item)]
            if not later:
                raise errors.InvalidRequest(
                    f"the last turn alone does not fit the model's context of {model.max_model_len} tokens",
                    param="input",
                    code=errors.CONTEXT_LENGTH_EXCEEDED,
                )
            items = items[later[0] :]
            chat = await self._build(request, items, owner)
        return chat

    async def _with_image_urls(self, item: dict[str, Any], owner: str) -> dict[str, Any]:
        """Image parts given by file id, as data URLs (the chat path takes images by URL)."""
        content = item.get("content")
        if not isinstance(content, list) or not any(_image_file(part) for part in content):
            return item
        return {**item, "content": [await self._image_url(part, owner) for part in content]}

    async def _image_url(self, part: dict[str, Any], owner: str) -> dict[str, Any]:
        if not _image_file(part):
            return part
        stored, data = await self.files.read(owner, part["file_id"])
        media = mimetypes.guess_type(stored.filename)[0] or "image/png"
        return {**part, "image_url": f"data:{media};base64,{base64.b64encode(data).decode()}"}


def _starts_turn(item: dict[str, Any]) -> bool:
    return item.get("type", "message") == "message" and item.get("role") == "user"


def _image_file(part: dict[str, Any]) -> bool:
    return part.get("type") == "input_image" and bool(part.get("file_id")) and not part.get("image_url")


def _chat_request(request: ResponseInputs, messages: list[dict[str, Any]]) -> ChatCompletionRequest:
    """The chat request that runs a Responses request (its errors are told in the Responses' terms)."""
    tools, choice = _tools(request)
    body: dict[str, Any] = {"model": request.model, "messages": messages, "tools": tools, "tool_choice": choice}
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    text_format = request.text.format if request.text else None
    if text_format is not None and text_format.type != "text":
        schema = {"name": text_format.name or "response", "schema": text_format.schema_, "strict": text_format.strict}
        body["response_format"] = {"type": text_format.type, "json_schema": schema}
    if isinstance(request, ResponsesRequest):
        body.update(_sampling(request))
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise errors.from_validation_errors(exc.errors()) from None


def _tools(request: ResponseInputs) -> tuple[list[dict[str, Any]] | None, Any]:
    tools = request.tools or []
    choice: Any = request.tool_choice
    if isinstance(choice, AllowedToolsChoice):
        allowed = {tool.get("name") for tool in choice.tools}
        tools, choice = [tool for tool in tools if tool.name in allowed], choice.mode
    elif isinstance(choice, FunctionToolChoice):
        choice = {"type": "function", "function": {"name": choice.name}}
    chat_tools = [
        {"type": "function", "function": tool.model_dump(exclude={"type"}, exclude_none=True)} for tool in tools
    ]
    return chat_tools or None, choice if chat_tools else None


def _sampling(request: ResponsesRequest) -> dict[str, Any]:
    fields = {
        "max_completion_tokens": request.max_output_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "top_k": request.top_k,
        "min_p": request.min_p,
        "repetition_penalty": request.repetition_penalty,
        "ignore_eos": request.ignore_eos,
    }
    if request.wants_logprobs:
        fields.update(logprobs=True, top_logprobs=request.top_logprobs or 0)
    if request.reasoning and request.reasoning.get("effort"):
        fields["reasoning_effort"] = request.reasoning["effort"]  # a chat template variable
    return {key: value for key, value in fields.items() if value is not None}
