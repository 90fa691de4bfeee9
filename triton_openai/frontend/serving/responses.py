"""ServingResponses: the Responses API (/v1/responses) over chat generation.

A request becomes the chat request that chat completions already runs
(triton_openai.frontend.serving.response_prompts): its input items, after the stored conversation of
`previous_response_id`, become chat messages. The answer comes back as output items (a `reasoning` item when the
model's thoughts are split off, an assistant message with `output_text`, `function_call` items), whole or as the
API's typed stream events
(triton_openai.frontend.serving.response_output). Stored responses (`store`, the default) keep their
input items and the conversation so far, owned by the caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.protocol.common import Usage
from triton_openai.frontend.protocol.responses import (
    InputItemList,
    InputTokens,
    OutputTokensDetails,
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
from triton_openai.frontend.protocol.responses import InputTokensDetails as _CachedTokens
from triton_openai.frontend.response_store.store import ResponseNotFound, ResponseStore, StoredResponse
from triton_openai.frontend.serving.answer import (
    Finished,
    GenerationStream,
    ReasoningText,
    TextDelta,
    ToolCallArguments,
    ToolCallStart,
    UsageReport,
)
from triton_openai.frontend.serving.chat import ServingChat
from triton_openai.frontend.serving.files import ServingFiles
from triton_openai.frontend.serving.response_background import BackgroundRuns
from triton_openai.frontend.serving.response_items import new_id, output_items, stored_items
from triton_openai.frontend.serving.response_output import Output, lifecycle_event
from triton_openai.frontend.serving.response_prompts import ResponsePrompts

logger = logging.getLogger(__name__)

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
            background=bool(request.background),
            tools=[ToolOut(**tool.model_dump(exclude={"type"})) for tool in request.tools or []],
            truncation=request.truncation or "disabled",
            metadata=request.metadata or {},
            **fields,
        )


class ServingResponses:
    def __init__(self, chat: ServingChat, store: ResponseStore, files: ServingFiles) -> None:
        self.chat = chat
        self.store = store
        self.prompts = ResponsePrompts(chat, files)
        self.background = BackgroundRuns(store)

    async def create(self, request: ResponsesRequest, owner: str) -> ResponseObject:
        turn = await self._turn(request, owner)
        if request.background:
            return await self._start_in_background(turn)
        final = await self._complete(turn)
        if _kept(turn):
            await self.store.put(_stored(turn, final))
        return final

    async def _complete(self, turn: _Turn) -> ResponseObject:
        generation = await self.chat.generate(turn.chat)
        answer = generation.answers[0]
        output = Output()
        output.add_answer(answer)
        usage = _usage(generation.usage)
        return _finished(turn, generation.model.name, output, answer.finish_reason, usage)

    async def _start_in_background(self, turn: _Turn) -> ResponseObject:
        model = (await self.chat.registry.resolve_llm(turn.chat.model, chat=True)).name
        queued = turn.response(model, "queued")
        await self.store.put(_stored(turn, queued))
        self.background.start(turn.owner, turn.id, self._finish_in_background(turn, model))
        return queued

    async def _finish_in_background(self, turn: _Turn, model: str) -> None:
        try:
            final = await self._complete(turn)
        except Exception as exc:  # noqa: BLE001 - the client learns of it by retrieving the response
            if not isinstance(exc, errors.APIError):
                logger.exception("background response %s failed", turn.id)
            message = exc.message if isinstance(exc, errors.APIError) else "internal error while generating"
            final = turn.response(model, "failed", error=ResponseError(code="server_error", message=message))
        await self.store.settle(_stored(turn, final))

    async def cancel(self, owner: str, response_id: str) -> ResponseObject:
        stored = await self._stored(owner, response_id)
        if not stored.response.get("background"):
            raise errors.InvalidRequest("Only responses created with background=true can be cancelled.")
        cancelled = {**stored.response, "status": "cancelled"}
        if await self.store.settle(replace(stored, response=cancelled)):
            self.background.stop(response_id)  # at once if this worker runs it; another one sees the store
            return ResponseObject.model_validate(cancelled)
        return ResponseObject.model_validate((await self._stored(owner, response_id)).response)  # done already

    async def close(self) -> None:
        await self.background.close()

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
                if isinstance(event, ReasoningText):
                    produced = output.reasoning(event.text)
                elif isinstance(event, TextDelta):
                    produced = output.text(event.text, event.logprobs)
                elif isinstance(event, ToolCallStart):
                    produced = output.call_start(event.call_index, event.id, event.name)
                elif isinstance(event, ToolCallArguments):
                    produced = output.call_arguments(event.call_index, event.arguments)
                elif isinstance(event, Finished):
                    reason = event.finish_reason
                    produced = output.finish(incomplete=reason == "length")
                elif isinstance(event, UsageReport):
                    final = _finished(turn, model, output, reason, _usage(event.usage))
                    if _kept(turn):
                        await self.store.put(_stored(turn, final))
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
        chat = await self.prompts.chat_request(request, context, owner)
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
        chat = await self.prompts.chat_request(request, context, owner)
        return InputTokens(input_tokens=await self.chat.prompt_tokens(chat))

    async def _stored(self, owner: str, response_id: str) -> StoredResponse:
        try:
            return await self.store.get(owner, response_id)
        except ResponseNotFound:
            raise _not_found(response_id) from None


def _kept(turn: _Turn) -> bool:
    return turn.request.store is not False


def _stored(turn: _Turn, response: ResponseObject) -> StoredResponse:
    """What the store keeps of a turn: the response, its input, and the conversation with its output."""
    context = [*(turn.previous.context if turn.previous else []), *turn.items, *output_items(response.output)]
    data = response.model_dump(mode="json")
    return StoredResponse(turn.id, turn.owner, turn.created_at, data, turn.items, context)


def _not_found(response_id: str) -> errors.ObjectNotFound:
    return errors.ObjectNotFound(f"Response with id '{response_id}' not found.", param="response_id")


def _usage(usage: Usage) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=usage.prompt_tokens,
        input_tokens_details=_CachedTokens(cached_tokens=usage.cached_tokens),
        output_tokens=usage.completion_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=usage.reasoning_tokens),
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
