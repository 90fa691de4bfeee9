"""ServingChat: chat generation over the served LLMs, and /v1/chat/completions.

`generate` / `generate_stream` give the answer in no API's format (triton_openai.frontend.serving.answer):
the one path that chat completions, the Responses API and the Messages API all run. A reasoning
model's `<think>` block is split off there (--reasoning-parser, or the model's own parameter);
chat completions sends it as `reasoning_content`. `render` shows the prompt a request would
generate from (/tokenize)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.chat import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    DeltaMessage,
    Source,
)
from triton_openai.frontend.protocol.common import Usage
from triton_openai.frontend.protocol.structured import (
    FunctionCallDelta,
    FunctionCallOut,
    NamedToolChoice,
    ToolCallDelta,
    ToolCallOut,
)
from triton_openai.frontend.protocol.tokenize import ChatRenderResponse
from triton_openai.frontend.serving.answer import (
    Answer,
    AnswerBuilder,
    AnswerEvent,
    Finished,
    Generation,
    GenerationStream,
    Reasoning,
    ReasoningText,
    Started,
    TextDelta,
    ToolCallArguments,
    ToolCallStart,
    UsageReport,
)
from triton_openai.frontend.serving.base import ServingBase
from triton_openai.frontend.serving.choices import Choice, ChoiceResult
from triton_openai.frontend.serving.image_inputs import ImageLoader
from triton_openai.frontend.serving.structured import OutputConstraints, chat_constraints, chat_logprobs
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel
from triton_openai.frontend.triton.jobs import ChatPrompt


class ServingChat(ServingBase):
    request_id_prefix = "chatcmpl"

    def __init__(
        self, *args: Any, images: ImageLoader | None = None, reasoning_parser: str = "auto", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.images = images
        self.reasoning_parser = reasoning_parser  # auto (as the model says), think, none

    def _splits_reasoning(self, model: ServedModel) -> bool:
        if self.reasoning_parser == "auto":
            return model.reasoning_parser == "think"
        return self.reasoning_parser == "think"

    async def _prompt(self, request: ChatCompletionRequest, hint: str | None) -> tuple[ServedModel, ChatPrompt]:
        """The model that answers and the prompt it is given (messages, template variables, images, tools)."""
        model = await self.registry.resolve_llm(request.model, chat=True)
        prompt = request.chat_prompt(hint)
        urls = request.image_urls()
        if urls:
            if not model.accepts_images:
                raise errors.InvalidRequest(
                    f"The model `{model.name}` does not accept image input; send images to a vision model.",
                    param="messages",
                )
            if self.images is None:
                raise errors.InvalidRequest("this server takes no images", param="messages")
            prompt = replace(prompt, images=await self.images.load_all(urls))
        return model, prompt

    async def _start(self, request: ChatCompletionRequest) -> _Started:
        constraints = chat_constraints(request)
        model, prompt = await self._prompt(request, constraints.hint)
        choices = self.choices(model, request, [prompt], constraints.guide)
        return _Started(model, self.new_request_id(), choices, Reasoning(self._splits_reasoning(model)), constraints)

    async def prompt_tokens(self, request: ChatCompletionRequest) -> int:
        """How many tokens the request's prompt takes (its messages through the chat template), without generating."""
        model, prompt = await self._prompt(request, chat_constraints(request).hint)
        return len((await self.tokenize(model, prompt)).token_ids)

    async def render(self, request: ChatCompletionRequest) -> ChatRenderResponse:
        """The prompt a chat request would generate from, tokenized; nothing is generated."""
        constraints = chat_constraints(request)
        model, prompt = await self._prompt(request, constraints.hint)
        self.choices(model, request, [prompt], constraints.guide)  # the request's own checks
        tokenized = await self.tokenize(model, prompt)
        return ChatRenderResponse(
            model=model.name,
            prompt=tokenized.text,
            token_ids=tokenized.token_ids,
            count=len(tokenized.token_ids),
            max_model_len=model.max_model_len or 0,
        )

    async def generate(self, request: ChatCompletionRequest) -> Generation:
        """The whole answer of every choice (the one generation path of every API family)."""
        started = await self._start(request)
        model, request_id = started.model, started.request_id
        results = await self.collect(model, started.choices, request_id)
        answers = [builder.whole(result) for builder, result in zip(started.builders(request), results, strict=True)]
        return Generation(request_id, self.now(), model, answers, self.usage(results))

    async def generate_stream(self, request: ChatCompletionRequest) -> GenerationStream:
        """The choices' answers as events, started now (errors before the first chunk raise here)."""
        started = await self._start(request)
        stream = await self.stream(started.model, started.choices, started.request_id)
        results = [ChoiceResult() for _ in range(request.n)]
        events = self._events(stream, started.builders(request), results)
        return GenerationStream(started.request_id, self.now(), started.model, events, results)

    async def _events(
        self,
        stream: AsyncIterator[tuple[int, GenerationChunk]],
        builders: list[AnswerBuilder],
        results: list[ChoiceResult],
    ) -> AsyncIterator[AnswerEvent]:
        started = False
        try:
            async for index, generated in stream:
                if not started:
                    started = True
                    yield Started(generated.num_input_tokens, generated.num_cached_tokens)
                results[index].add(generated)
                events = builders[index].feed(generated)
                if generated.finish_reason is not None:
                    events += builders[index].finish(generated)
                results[index].reasoning_tokens = builders[index].reasoning_tokens
                for event in events:
                    yield event
            yield UsageReport(self.usage(results))
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def create(
        self, request: ChatCompletionRequest, sources: list[Source] | None = None
    ) -> ChatCompletionResponse:
        """Chat completions' answer; `sources` (document Q&A's) go into each choice's message."""
        generation = await self.generate(request)
        return ChatCompletionResponse(
            id=generation.id,
            created=generation.created,
            model=generation.model.name,
            choices=[_chat_choice(request, answer, sources) for answer in generation.answers],
            usage=generation.usage,
            system_fingerprint=generation.model.system_fingerprint,
        )

    async def create_stream(
        self, request: ChatCompletionRequest, sources: list[Source] | None = None
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Chat completions' chunks; `sources` ride on each choice's first chunk."""
        return _chunks(_ChunkWriter(request, await self.generate_stream(request), sources))


@dataclass(frozen=True)
class _Started:
    model: ServedModel
    request_id: str
    choices: list[Choice]
    reasoning: Reasoning
    constraints: OutputConstraints

    def builders(self, request: ChatCompletionRequest) -> list[AnswerBuilder]:
        """One answer builder per choice."""
        return [AnswerBuilder(request, i, self.reasoning, self.constraints) for i in range(request.n)]


def _finish_reason(request: ChatCompletionRequest, reason: str | None) -> str | None:
    # As OpenAI answers: "tool_calls" for calls made under auto or required, but "stop" for
    # a forced named function (vLLM PR #25054 tabulates OpenAI's answers), streamed or not.
    if reason == "tool_calls" and isinstance(request.tool_choice, NamedToolChoice):
        return "stop"
    return reason


def _chat_choice(request: ChatCompletionRequest, answer: Answer, sources: list[Source] | None) -> ChatChoice:
    calls = [
        ToolCallOut(id=c.id, function=FunctionCallOut(name=c.name, arguments=c.arguments)) for c in answer.tool_calls
    ]
    message = AssistantMessage(content=answer.content, tool_calls=calls or None)
    if answer.reasoning is not None:
        message.reasoning_content = answer.reasoning
    if sources is not None:
        message.sources = sources
    logprobs = chat_logprobs(answer.logprobs) if answer.logprobs is not None else None
    finish = _finish_reason(request, answer.finish_reason)
    return ChatChoice(
        index=answer.index, message=message, logprobs=logprobs, finish_reason=finish, stop_reason=answer.stop_reason
    )


async def _chunks(writer: _ChunkWriter) -> AsyncIterator[ChatCompletionChunk]:
    generation = writer.generation
    try:
        async for event in generation.events:
            if not writer.opened:  # the first event is Started: the prompt's counts, for continuous usage
                for chunk in writer.openings(event):
                    yield chunk
            chunk = writer.of(event)
            if chunk is not None:
                yield chunk
    finally:
        await generation.events.aclose()  # type: ignore[attr-defined]


class _ChunkWriter:
    """A chat generation's events as chat completion chunks: each choice opens with its role
    (and document Q&A's sources), then its deltas, then its finish (with vLLM's stop_reason);
    with include_usage a last chunk carries the usage, and with continuous usage every chunk
    carries its choice's usage so far."""

    def __init__(
        self, request: ChatCompletionRequest, generation: GenerationStream, sources: list[Source] | None
    ) -> None:
        self.request = request
        self.generation = generation
        self.sources = sources
        self.opened = False

    def openings(self, first: AnswerEvent) -> list[ChatCompletionChunk]:
        self.opened = True
        started = first if isinstance(first, Started) else Started(0)
        usage = Usage.of(started.prompt_tokens, 0, cached_tokens=started.cached_tokens)
        # a plain chat sends no `sources` key
        sources = {"sources": self.sources} if self.sources is not None else {}
        delta = DeltaMessage(role="assistant", content="", **sources)
        return [self.chunk(index, delta, usage=usage) for index in range(self.request.n)]

    def of(self, event: AnswerEvent) -> ChatCompletionChunk | None:
        if isinstance(event, ReasoningText):
            return self.chunk(event.index, DeltaMessage(reasoning_content=event.text), event.logprobs)
        if isinstance(event, TextDelta):
            return self.chunk(event.index, DeltaMessage(content=event.text), event.logprobs)
        if isinstance(event, ToolCallStart):
            function = FunctionCallDelta(name=event.name, arguments="")
            call = ToolCallDelta(index=event.call_index, id=event.id, type="function", function=function)
            return self.chunk(event.index, DeltaMessage(tool_calls=[call]))
        if isinstance(event, ToolCallArguments):
            call = ToolCallDelta(index=event.call_index, function=FunctionCallDelta(arguments=event.arguments))
            return self.chunk(event.index, DeltaMessage(tool_calls=[call]))
        if isinstance(event, Finished):
            return self.chunk(event.index, DeltaMessage(), finished=event)
        if isinstance(event, UsageReport) and self.request.include_usage:
            return self._chunk([], event.usage)
        return None

    def chunk(
        self,
        index: int,
        delta: DeltaMessage,
        logprobs: list[dict[str, Any]] | None = None,
        usage: Usage | None = None,
        finished: Finished | None = None,
    ) -> ChatCompletionChunk:
        entries = chat_logprobs(logprobs) if logprobs is not None else None
        choice = ChatChunkChoice(index=index, delta=delta, logprobs=entries, finish_reason=None)
        if finished is not None:  # vLLM's stop_reason goes with the finish only
            choice.finish_reason = _finish_reason(self.request, finished.finish_reason)
            choice.stop_reason = finished.stop_reason
        if not self.request.continuous_usage:
            usage = None
        elif usage is None:
            usage = self.generation.progress[index].usage()
        return self._chunk([choice], usage)

    def _chunk(self, choices: list[ChatChunkChoice], usage: Usage | None) -> ChatCompletionChunk:
        model, generation = self.generation.model, self.generation
        extra = {"usage": usage} if self.request.include_usage else {}  # OpenAI: "usage": null until the last
        return ChatCompletionChunk(
            id=generation.id,
            created=generation.created,
            model=model.name,
            choices=choices,
            system_fingerprint=model.system_fingerprint,
            **extra,
        )
