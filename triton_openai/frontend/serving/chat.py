"""ServingChat: chat generation over the served LLMs, and /v1/chat/completions.

`generate` / `generate_stream` give the answer in no API's format (triton_openai.frontend.serving.answer):
the one path that chat completions, the Responses API and the Messages API all run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from triton_openai import contract as t
from triton_openai.frontend import errors
from triton_openai.frontend.protocol.chat import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    DeltaMessage,
)
from triton_openai.frontend.protocol.structured import (
    ChoiceLogprobs,
    FunctionCallDelta,
    FunctionCallOut,
    ToolCallDelta,
    ToolCallOut,
)
from triton_openai.frontend.serving.answer import (
    Answer,
    AnswerBuilder,
    AnswerEvent,
    Finished,
    Generation,
    GenerationStream,
    Started,
    TextDelta,
    ToolCallArguments,
    ToolCallStart,
    UsageReport,
)
from triton_openai.frontend.serving.base import ServingBase
from triton_openai.frontend.serving.choices import Choice, ChoiceResult
from triton_openai.frontend.serving.image_inputs import ImageLoader
from triton_openai.frontend.serving.structured import chat_logprobs, format_hint, guide_inputs, tool_guide
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel


class ServingChat(ServingBase):
    request_id_prefix = "chatcmpl"

    def __init__(self, *args: Any, images: ImageLoader | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.images = images

    async def _prompt(self, request: ChatCompletionRequest) -> tuple[ServedModel, dict[str, Any]]:
        """The model that answers and the prompt it is given (messages, images, tools)."""
        model = await self.registry.resolve_llm(request.model, chat=True)
        prompt: dict[str, Any] = {t.MESSAGES: request.messages_json(format_hint(request))}
        urls = request.image_urls()
        if urls:
            if not model.accepts_images:
                raise errors.InvalidRequest(
                    f"The model `{model.name}` does not accept image input; send images to a vision model.",
                    param="messages",
                )
            if self.images is None:
                raise errors.InvalidRequest("this server takes no images", param="messages")
            prompt[t.IMAGES] = await self.images.load_all(urls)
        tools = request.tools_json()
        if tools is not None:
            prompt[t.TOOLS] = tools
        return model, prompt

    async def _start(self, request: ChatCompletionRequest) -> tuple[ServedModel, str, list[Choice]]:
        model, prompt = await self._prompt(request)
        guide = tool_guide(request) or request.guide()
        choices = await self.choices(model, request, [prompt], guide_inputs(guide))
        return model, self.new_request_id(), choices

    async def prompt_tokens(self, request: ChatCompletionRequest) -> int:
        """How many tokens the request's prompt takes (its messages through the chat template), without generating."""
        model, prompt = await self._prompt(request)
        if model.tokenizes_itself:
            raise errors.InvalidRequest(f"The model `{model.name}` cannot count prompt tokens apart from generating.")
        return len(await self._token_ids(model, prompt))

    async def generate(self, request: ChatCompletionRequest) -> Generation:
        """The whole answer of every choice (the one generation path of every API family)."""
        model, request_id, choices = await self._start(request)
        results = await self.collect(model, choices, request_id)
        answers = [AnswerBuilder(request, i).whole(r) for i, r in enumerate(results)]
        return Generation(request_id, self.now(), model, answers, self.usage(results), _cached(results))

    async def generate_stream(self, request: ChatCompletionRequest) -> GenerationStream:
        """The choices' answers as events, started now (errors before the first chunk raise here)."""
        model, request_id, choices = await self._start(request)
        stream = await self.stream(model, choices, request_id)
        return GenerationStream(request_id, self.now(), model, self._events(request, stream))

    async def _events(
        self, request: ChatCompletionRequest, stream: AsyncIterator[tuple[int, GenerationChunk]]
    ) -> AsyncIterator[AnswerEvent]:
        results = [ChoiceResult() for _ in range(request.n)]
        builders = [AnswerBuilder(request, i) for i in range(request.n)]
        started = False
        try:
            async for index, generated in stream:
                if not started:
                    started = True
                    yield Started(generated.num_input_tokens, generated.num_cached_tokens)
                results[index].add(generated)
                for event in builders[index].feed(generated):
                    yield event
                if generated.finish_reason is not None:
                    for event in builders[index].finish(generated):
                        yield event
            yield UsageReport(self.usage(results), _cached(results))
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def create(self, request: ChatCompletionRequest) -> ChatCompletionResponse:
        generation = await self.generate(request)
        return ChatCompletionResponse(
            id=generation.id,
            created=generation.created,
            model=generation.model.name,
            choices=[_chat_choice(request, answer) for answer in generation.answers],
            usage=generation.usage,
            system_fingerprint=generation.model.system_fingerprint,
        )

    async def create_stream(self, request: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        return _chunks(request, await self.generate_stream(request))


def _cached(results: list[ChoiceResult]) -> int:
    return results[0].cached_tokens if results else 0  # the choices share one prompt


def _chat_choice(request: ChatCompletionRequest, answer: Answer) -> ChatChoice:
    calls = [
        ToolCallOut(id=c.id, function=FunctionCallOut(name=c.name, arguments=c.arguments)) for c in answer.tool_calls
    ]
    message = AssistantMessage(content=answer.content, tool_calls=calls or None)
    if request._sources is not None:
        message.sources = request._sources
    logprobs = chat_logprobs(answer.logprobs) if answer.logprobs is not None else None
    return ChatChoice(index=answer.index, message=message, logprobs=logprobs, finish_reason=answer.finish_reason)


async def _chunks(request: ChatCompletionRequest, generation: GenerationStream) -> AsyncIterator[ChatCompletionChunk]:
    model = generation.model
    include_usage = request.include_usage

    def chunk(
        index: int, delta: DeltaMessage, finish: str | None = None, logprobs: ChoiceLogprobs | None = None
    ) -> ChatCompletionChunk:
        choice = ChatChunkChoice(index=index, delta=delta, logprobs=logprobs, finish_reason=finish)
        extra = {"usage": None} if include_usage else {}
        return ChatCompletionChunk(
            id=generation.id,
            created=generation.created,
            model=model.name,
            choices=[choice],
            system_fingerprint=model.system_fingerprint,
            **extra,
        )

    # document Q&A's sources ride on the first chunk; a plain chat sends no `sources` key
    first = {"sources": request._sources} if request._sources is not None else {}
    for index in range(request.n):
        yield chunk(index, DeltaMessage(role="assistant", content="", **first))
    try:
        async for event in generation.events:
            if isinstance(event, TextDelta):
                logprobs = chat_logprobs(event.logprobs) if event.logprobs is not None else None
                yield chunk(event.index, DeltaMessage(content=event.text), logprobs=logprobs)
            elif isinstance(event, ToolCallStart):
                function = FunctionCallDelta(name=event.name, arguments="")
                call = ToolCallDelta(index=event.call_index, id=event.id, type="function", function=function)
                yield chunk(event.index, DeltaMessage(tool_calls=[call]))
            elif isinstance(event, ToolCallArguments):
                call = ToolCallDelta(index=event.call_index, function=FunctionCallDelta(arguments=event.arguments))
                yield chunk(event.index, DeltaMessage(tool_calls=[call]))
            elif isinstance(event, Finished):
                yield chunk(event.index, DeltaMessage(), event.finish_reason)
            elif isinstance(event, UsageReport) and include_usage:
                yield ChatCompletionChunk(
                    id=generation.id,
                    created=generation.created,
                    model=model.name,
                    choices=[],
                    system_fingerprint=model.system_fingerprint,
                    usage=event.usage,
                )
    finally:
        await generation.events.aclose()  # type: ignore[attr-defined]
