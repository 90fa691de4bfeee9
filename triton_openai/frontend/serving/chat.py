"""ServingChat: /v1/chat/completions over the served LLMs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from triton_openai.frontend.serving.base import ServingBase
from triton_openai.frontend.serving.choices import Choice, ChoiceResult
from triton_openai.frontend.serving.image_inputs import ImageLoader
from triton_openai.frontend.serving.structured import (
    chat_logprobs,
    extract_json_code,
    format_hint,
    guide_inputs,
    tool_guide,
)
from triton_openai.frontend.serving.tool_calls import CallDelta, ToolCallExtractor
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel


class ServingChat(ServingBase):
    request_id_prefix = "chatcmpl"

    def __init__(self, *args: Any, images: ImageLoader | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.images = images

    async def _start(self, request: ChatCompletionRequest) -> tuple[ServedModel, str, list[Choice]]:
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
        guide = tool_guide(request) or request.guide()
        choices = await self.choices(model, request, [prompt], guide_inputs(guide))
        return model, self.new_request_id(), choices

    async def create(self, request: ChatCompletionRequest) -> ChatCompletionResponse:
        model, request_id, choices = await self._start(request)
        results = await self.collect(model, choices, request_id)
        return ChatCompletionResponse(
            id=request_id,
            created=self.now(),
            model=model.name,
            choices=[_Answer(request).choice(i, r) for i, r in enumerate(results)],
            usage=self.usage(results),
            system_fingerprint=model.system_fingerprint,
        )

    async def create_stream(self, request: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        model, request_id, choices = await self._start(request)
        stream = await self.stream(model, choices, request_id)
        return self._chunks(request, model, request_id, stream)

    async def _chunks(
        self,
        request: ChatCompletionRequest,
        model: ServedModel,
        request_id: str,
        stream: AsyncIterator[tuple[int, GenerationChunk]],
    ) -> AsyncIterator[ChatCompletionChunk]:
        created = self.now()
        results = [ChoiceResult() for _ in range(request.n)]
        answers = [_Answer(request) for _ in range(request.n)]
        include_usage = request.include_usage

        def chunk(
            index: int, delta: DeltaMessage, finish: str | None = None, logprobs: ChoiceLogprobs | None = None
        ) -> ChatCompletionChunk:
            choice = ChatChunkChoice(index=index, delta=delta, logprobs=logprobs, finish_reason=finish)
            extra = {"usage": None} if include_usage else {}
            return ChatCompletionChunk(
                id=request_id,
                created=created,
                model=model.name,
                choices=[choice],
                system_fingerprint=model.system_fingerprint,
                **extra,
            )

        # document Q&A's sources ride on the first chunk; a plain chat sends no `sources` key
        first = {"sources": request._sources} if request._sources is not None else {}
        for index in range(request.n):
            yield chunk(index, DeltaMessage(role="assistant", content="", **first))
        async for index, generated in stream:
            results[index].add(generated)
            for delta, logprobs in answers[index].feed(generated):
                yield chunk(index, delta, logprobs=logprobs)
            if generated.finish_reason is not None:
                for delta, _ in answers[index].finish():
                    yield chunk(index, delta)
                yield chunk(index, DeltaMessage(), answers[index].finish_reason(generated.finish_reason))
        if include_usage:
            yield ChatCompletionChunk(
                id=request_id,
                created=created,
                model=model.name,
                choices=[],
                system_fingerprint=model.system_fingerprint,
                usage=self.usage(results),
            )


@dataclass
class _Answer:
    """Turns one choice's generated text into the assistant message: plain content, tool
    calls, or h2oGPT's json_code; whole (`choice`) or as stream deltas (`feed`, `finish`)."""

    request: ChatCompletionRequest

    def __post_init__(self) -> None:
        self.tools = ToolCallExtractor(tagged=tool_guide(self.request) is None) if self.request.uses_tools else None
        format_ = self.request.response_format
        self.json_code = format_ is not None and format_.type == "json_code"
        self.text = ""

    def choice(self, index: int, result: ChoiceResult) -> ChatChoice:
        text = result.full_text
        message = AssistantMessage(content=extract_json_code(text) if self.json_code else text)
        if self.tools is not None:
            self.tools.feed(text)
            calls = self.tools.calls()
            if calls:
                outs = [
                    ToolCallOut(id=c.id, function=FunctionCallOut(name=c.name, arguments=c.arguments)) for c in calls
                ]
                message = AssistantMessage(content=self.tools.content(), tool_calls=outs)
        if self.request._sources is not None:
            message.sources = self.request._sources
        logprobs = chat_logprobs(result.logprobs) if self.request.logprobs else None
        return ChatChoice(
            index=index, message=message, logprobs=logprobs, finish_reason=self.finish_reason(result.finish_reason)
        )

    def finish_reason(self, engine_reason: str | None) -> str | None:
        if self.tools is not None and self.tools.calls() and engine_reason != "length":
            return "tool_calls"
        return engine_reason

    def feed(self, generated: GenerationChunk) -> list[tuple[DeltaMessage, ChoiceLogprobs | None]]:
        logprobs = chat_logprobs(generated.logprobs) if self.request.logprobs and generated.logprobs else None
        if self.tools is not None:
            content, calls = self.tools.feed(generated.text)
            return self._deltas(content, calls)
        if self.json_code:
            self.text += generated.text
            return []
        if generated.text or logprobs is not None:
            return [(DeltaMessage(content=generated.text), logprobs)]
        return []

    def finish(self) -> list[tuple[DeltaMessage, None]]:
        if self.tools is not None:
            return [(delta, None) for delta, _ in self._deltas(*self.tools.finish())]
        if self.json_code:
            return [(DeltaMessage(content=extract_json_code(self.text)), None)]
        return []

    @staticmethod
    def _deltas(content: str, calls: list[CallDelta]) -> list[tuple[DeltaMessage, None]]:
        out: list[tuple[DeltaMessage, None]] = []
        if content:
            out.append((DeltaMessage(content=content), None))
        for call in calls:
            if call.id is not None:
                function = FunctionCallDelta(name=call.name, arguments="")
                delta = ToolCallDelta(index=call.index, id=call.id, type="function", function=function)
            else:
                delta = ToolCallDelta(index=call.index, function=FunctionCallDelta(arguments=call.arguments))
            out.append((DeltaMessage(tool_calls=[delta]), None))
        return out
