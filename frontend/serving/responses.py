"""ServingResponses: the Responses API (/v1/responses) over chat generation.

A request becomes the chat request that chat completions already runs: its input items
(after the stored conversation of `previous_response_id`) become chat messages, its
function tools chat tools, `text.format` a response_format, `max_output_tokens` the
output limit. The answer comes back as output items (an assistant message with
`output_text`, `function_call` items), whole or as the API's typed stream events
(frontend.serving.response_output). Stored responses (`store`, the default) keep their
input items and the conversation so far, owned by the caller.
"""

from __future__ import annotations

import base64
import mimetypes
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from frontend import errors
from frontend.protocol.chat import ChatCompletionRequest
from frontend.protocol.common import Usage
from frontend.protocol.responses import (
    AllowedToolsChoice,
    FunctionToolChoice,
    InputItemList,
    InputTokens,
    ResponseDeleted,
    ResponseError,
    ResponseInputs,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
    StreamEvent,
    TextOut,
    ToolOut,
)
from frontend.protocol.responses import InputTokensDetails as _CachedTokens
from frontend.response_store.store import ResponseNotFound, ResponseStore, StoredResponse
from frontend.serving.answer import Finished, GenerationStream, TextDelta, ToolCallArguments, ToolCallStart, UsageReport
from frontend.serving.chat import ServingChat
from frontend.serving.file_parts import resolve_file_parts
from frontend.serving.files import ServingFiles
from frontend.serving.response_items import chat_messages, new_id, output_items, stored_items
from frontend.serving.response_output import Output, lifecycle_event

MAX_INPUT_ITEMS_PAGE = 100


@dataclass
class _Turn:
    """One request made ready: its id, what it continues, its items, and the chat request that runs it."""

    request: ResponsesRequest
    owner: str
    id: str
    created_at: int
    previous: StoredResponse | None
    items: list[dict[str, Any]]
    chat: ChatCompletionRequest

    def response(self, model: str, status: str, output: Output | None = None, **fields: Any) -> ResponseObject:
        request = self.request
        text_format = request.text.format if request.text and request.text.format else None
        return ResponseObject(
            id=self.id,
            created_at=self.created_at,
            status=status,
            error=fields.pop("error", None),
            incomplete_details=fields.pop("incomplete_details", None),
            instructions=request.instructions,
            max_output_tokens=request.max_output_tokens,
            model=model,
            output=output.items if output is not None else [],
            parallel_tool_calls=request.parallel_tool_calls is not False,
            previous_response_id=request.previous_response_id,
            temperature=request.temperature,
            top_p=request.top_p,
            top_logprobs=request.top_logprobs,
            text=TextOut(
                format=text_format.model_dump(by_alias=True, exclude_none=True) if text_format else {"type": "text"}
            ),
            tool_choice=_echo(request.tool_choice),
            tools=[ToolOut(**tool.model_dump(exclude={"type"})) for tool in request.tools or []],
            truncation=request.truncation or "disabled",
            metadata=request.metadata or {},
            **fields,
        )


class ServingResponses:
    def __init__(self, chat: ServingChat, store: ResponseStore, files: ServingFiles) -> None:
        self.chat = chat
        self.store = store
        self.files = files

    async def create(self, request: ResponsesRequest, owner: str) -> ResponseObject:
        turn = await self._turn(request, owner)
        generation = await self.chat.generate(turn.chat)
        answer = generation.answers[0]
        output = Output()
        output.add_answer(answer)
        usage = _usage(generation.usage, generation.cached_tokens)
        final = _finished(turn, generation.model.name, output, answer.finish_reason, usage)
        await self._keep(turn, final)
        return final

    async def create_stream(self, request: ResponsesRequest, owner: str) -> AsyncIterator[StreamEvent]:
        turn = await self._turn(request, owner)
        return self._events(turn, await self.chat.generate_stream(turn.chat))

    async def _events(self, turn: _Turn, generation: GenerationStream) -> AsyncIterator[StreamEvent]:
        model = generation.model.name
        output = Output()
        sequence = 0

        def numbered(event: StreamEvent) -> StreamEvent:
            nonlocal sequence
            event.sequence_number, sequence = sequence, sequence + 1
            return event

        yield numbered(lifecycle_event("response.created", turn.response(model, "in_progress")))
        yield numbered(lifecycle_event("response.in_progress", turn.response(model, "in_progress")))
        reason = None
        try:
            async for event in generation.events:
                produced: list[StreamEvent] = []
                if isinstance(event, TextDelta):
                    produced = output.text(event.text, event.logprobs)
                elif isinstance(event, ToolCallStart):
                    produced = output.call_start(event.call_index, event.id, event.name)
                elif isinstance(event, ToolCallArguments):
                    produced = output.call_arguments(event.call_index, event.arguments)
                elif isinstance(event, Finished):
                    reason = event.finish_reason
                    produced = output.finish(incomplete=reason == "length")
                elif isinstance(event, UsageReport):
                    final = _finished(turn, model, output, reason, _usage(event.usage, event.cached_tokens))
                    await self._keep(turn, final)
                    produced = [lifecycle_event(f"response.{final.status}", final)]
                for item in produced:
                    yield numbered(item)
        except errors.APIError as exc:
            error = ResponseError(code="server_error", message=exc.message)
            yield numbered(lifecycle_event("response.failed", turn.response(model, "failed", output, error=error)))
        finally:
            await generation.events.aclose()  # type: ignore[attr-defined]

    async def _turn(self, request: ResponsesRequest, owner: str) -> _Turn:
        previous = await self._previous(request, owner)
        items = stored_items(request.input)
        context = [*(previous.context if previous else []), *items]
        messages = chat_messages(await self._with_image_files(context, owner), request.instructions)
        chat = await resolve_file_parts(_chat_request(request, messages), self.files, owner)
        return _Turn(request, owner, new_id("resp"), int(time.time()), previous, items, chat)

    async def _previous(self, request: ResponseInputs, owner: str) -> StoredResponse | None:
        if request.previous_response_id is None:
            return None
        try:
            return await self.store.get(owner, request.previous_response_id)
        except ResponseNotFound:
            raise errors.ObjectNotFound(
                f"Previous response with id '{request.previous_response_id}' not found.", param="previous_response_id"
            ) from None

    async def _with_image_files(self, items: list[dict[str, Any]], owner: str) -> list[dict[str, Any]]:
        """Image parts given by file id, as data URLs (the chat path takes images by URL)."""
        resolved = []
        for item in items:
            if isinstance(item.get("content"), list) and any(_image_file(p) for p in item["content"]):
                item = {**item, "content": [await self._image_url(p, owner) for p in item["content"]]}
            resolved.append(item)
        return resolved

    async def _image_url(self, part: dict[str, Any], owner: str) -> dict[str, Any]:
        if not _image_file(part):
            return part
        stored, data = await self.files.read(owner, part["file_id"])
        media = mimetypes.guess_type(stored.filename)[0] or "image/png"
        return {**part, "image_url": f"data:{media};base64,{base64.b64encode(data).decode()}"}

    async def _keep(self, turn: _Turn, final: ResponseObject) -> None:
        if turn.request.store is False:
            return
        context = [*(turn.previous.context if turn.previous else []), *turn.items, *output_items(final.output)]
        response = final.model_dump(mode="json")
        await self.store.put(StoredResponse(turn.id, turn.owner, turn.created_at, response, turn.items, context))

    async def retrieve(self, owner: str, response_id: str) -> ResponseObject:
        return ResponseObject.model_validate((await self._stored(owner, response_id)).response)

    async def delete(self, owner: str, response_id: str) -> ResponseDeleted:
        try:
            await self.store.delete(owner, response_id)
        except ResponseNotFound:
            raise _not_found(response_id) from None
        return ResponseDeleted(id=response_id)

    async def input_items(
        self, owner: str, response_id: str, limit: int, after: str | None, order: str
    ) -> InputItemList:
        if not 1 <= limit <= MAX_INPUT_ITEMS_PAGE:
            raise errors.InvalidRequest(f"limit must be between 1 and {MAX_INPUT_ITEMS_PAGE}", param="limit")
        items = (await self._stored(owner, response_id)).input_items
        items = list(reversed(items)) if order == "desc" else items
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise errors.InvalidRequest(f"after: no input item {after!r} in this response", param="after")
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        return InputItemList(
            data=page,
            first_id=page[0]["id"] if page else None,
            last_id=page[-1]["id"] if page else None,
            has_more=len(items) > limit,
        )

    async def input_tokens(self, request: ResponseInputs, owner: str) -> InputTokens:
        """How many tokens the input (after the previous response's conversation) takes in the prompt."""
        if request.input is None and request.previous_response_id is None:
            raise errors.InvalidRequest("input is required", param="input")
        previous = await self._previous(request, owner)
        items = stored_items(request.input) if request.input is not None else []
        context = [*(previous.context if previous else []), *items]
        messages = chat_messages(await self._with_image_files(context, owner), request.instructions)
        chat = await resolve_file_parts(_chat_request(request, messages), self.files, owner)
        return InputTokens(input_tokens=await self.chat.prompt_tokens(chat))

    async def _stored(self, owner: str, response_id: str) -> StoredResponse:
        try:
            return await self.store.get(owner, response_id)
        except ResponseNotFound:
            raise _not_found(response_id) from None


def _not_found(response_id: str) -> errors.ObjectNotFound:
    return errors.ObjectNotFound(f"Response with id '{response_id}' not found.", param="response_id")


def _image_file(part: dict[str, Any]) -> bool:
    return part.get("type") == "input_image" and bool(part.get("file_id")) and not part.get("image_url")


def _usage(usage: Usage, cached_tokens: int) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=usage.prompt_tokens,
        input_tokens_details=_CachedTokens(cached_tokens=cached_tokens),
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def _finished(turn: _Turn, model: str, output: Output, reason: str | None, counts: ResponseUsage) -> ResponseObject:
    if reason == "length":
        details = {"reason": "max_output_tokens"}
        return turn.response(model, "incomplete", output, incomplete_details=details, usage=counts)
    return turn.response(model, "completed", output, usage=counts, completed_at=int(time.time()))


def _echo(choice: Any) -> Any:
    if choice is None:
        return "auto"
    return choice if isinstance(choice, str) else choice.model_dump(mode="json")


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
    return {key: value for key, value in fields.items() if value is not None}
