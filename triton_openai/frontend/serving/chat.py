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
    NamedToolChoice,
    ToolCallDelta,
    ToolCallOut,
)
from triton_openai.frontend.protocol.tokenize import ChatRenderResponse
from triton_openai.frontend.serving.base import Prepared, ServingBase
from triton_openai.frontend.serving.choices import ChoiceResult
from triton_openai.frontend.serving.image_inputs import ImageLoader
from triton_openai.frontend.serving.reasoning import ReasoningSplitter, prompt_opens_reasoning
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

    def __init__(
        self, *args: Any, images: ImageLoader | None = None, reasoning_parser: str = "auto", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.images = images
        self.reasoning_parser = reasoning_parser  # auto (as the model says), think, none

    def _splits_reasoning(self, model: ServedModel) -> bool:
        if self.reasoning_parser == "auto":
            return model.parameters.get(t.PARAM_REASONING_PARSER) == "think"
        return self.reasoning_parser == "think"

    async def _start(self, request: ChatCompletionRequest) -> _Started:
        model = await self.registry.resolve_llm(request.model, chat=True)
        prompt: dict[str, Any] = {
            t.MESSAGES: request.messages_json(format_hint(request)),
            t.CHAT_TEMPLATE_KWARGS: request.template_kwargs_json(),
        }
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
        prepared = await self.prepare(model, request, [prompt], guide_inputs(guide))
        reasoning = _Reasoning(
            self._splits_reasoning(model),
            any(prompt_opens_reasoning(p.text) for p in prepared.prompts),
        )
        return _Started(model, self.new_request_id(), prepared, reasoning)

    async def create(self, request: ChatCompletionRequest) -> ChatCompletionResponse:
        started = await self._start(request)
        model, request_id = started.model, started.request_id
        results = await self.collect(model, started.prepared.choices, request_id)
        answers = [_Answer(request, started.reasoning).choice(i, r) for i, r in enumerate(results)]
        return ChatCompletionResponse(
            id=request_id,
            created=self.now(),
            model=model.name,
            choices=answers,
            usage=self.usage(results),
            system_fingerprint=model.system_fingerprint,
        )

    async def create_stream(self, request: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        started = await self._start(request)
        stream = await self.stream(started.model, started.prepared.choices, started.request_id)
        return self._chunks(request, started.model, started.request_id, stream, started.reasoning)

    async def render(self, request: ChatCompletionRequest) -> ChatRenderResponse:
        """The prompt a chat request would generate from, tokenized; nothing is generated."""
        started = await self._start(request)
        if not started.prepared.prompts:
            raise errors.InvalidRequest(
                f"The model `{started.model.name}` renders its prompts inside its engine; they cannot be shown.",
                param="model",
            )
        prompt = started.prepared.prompts[0]
        return ChatRenderResponse(
            model=started.model.name,
            prompt=prompt.text,
            token_ids=prompt.token_ids,
            count=len(prompt.token_ids),
            max_model_len=started.model.max_model_len or 0,
        )

    async def _chunks(
        self,
        request: ChatCompletionRequest,
        model: ServedModel,
        request_id: str,
        stream: AsyncIterator[tuple[int, GenerationChunk]],
        reasoning: _Reasoning,
    ) -> AsyncIterator[ChatCompletionChunk]:
        created = self.now()
        results = [ChoiceResult() for _ in range(request.n)]
        answers = [_Answer(request, reasoning) for _ in range(request.n)]
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
                results[index].reasoning_tokens = answers[index].reasoning_tokens
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


@dataclass(frozen=True)
class _Started:
    model: ServedModel
    request_id: str
    prepared: Prepared
    reasoning: _Reasoning


@dataclass(frozen=True)
class _Reasoning:
    """Whether a request's output has its reasoning split out, and whether it starts inside it."""

    split: bool = False
    starts_inside: bool = False

    def splitter(self) -> ReasoningSplitter | None:
        return ReasoningSplitter(self.starts_inside) if self.split else None


@dataclass
class _Answer:
    """Turns one choice's generated text into the assistant message: reasoning peeled off
    first, then plain content, tool calls, or h2oGPT's json_code; whole (`choice`) or as
    stream deltas (`feed`, `finish`)."""

    request: ChatCompletionRequest
    reasoning: _Reasoning = _Reasoning()

    def __post_init__(self) -> None:
        self.tools = ToolCallExtractor(tagged=tool_guide(self.request) is None) if self.request.uses_tools else None
        format_ = self.request.response_format
        self.json_code = format_ is not None and format_.type == "json_code"
        self.text = ""
        self.splitter = self.reasoning.splitter()

    @property
    def reasoning_tokens(self) -> int:
        return self.splitter.reasoning_tokens if self.splitter is not None else 0

    def choice(self, index: int, result: ChoiceResult) -> ChatChoice:
        text, thoughts = result.full_text, None
        if self.splitter is not None:
            for piece, tokens in zip(result.text, result.token_counts, strict=True):
                self.splitter.feed(piece, tokens)
            self.splitter.finish()
            text, thoughts = self.splitter.content, self.splitter.reasoning or None
            result.reasoning_tokens = self.splitter.reasoning_tokens
        message = AssistantMessage(content=extract_json_code(text) if self.json_code else text)
        if self.tools is not None:
            self.tools.feed(text)
            calls = self.tools.calls()
            if calls:
                outs = [
                    ToolCallOut(id=c.id, function=FunctionCallOut(name=c.name, arguments=c.arguments)) for c in calls
                ]
                message = AssistantMessage(content=self.tools.content(), tool_calls=outs)
        if thoughts is not None:
            message.reasoning_content = thoughts
        if self.request._sources is not None:
            message.sources = self.request._sources
        logprobs = chat_logprobs(result.logprobs) if self.request.logprobs else None
        return ChatChoice(
            index=index, message=message, logprobs=logprobs, finish_reason=self.finish_reason(result.finish_reason)
        )

    def finish_reason(self, engine_reason: str | None) -> str | None:
        # As OpenAI answers: "tool_calls" for calls made under auto or required, but "stop" for
        # a forced named function (vLLM PR #25054 tabulates OpenAI's answers), streamed or not.
        if self.tools is not None and self.tools.calls() and engine_reason != "length":
            return "stop" if isinstance(self.request.tool_choice, NamedToolChoice) else "tool_calls"
        return engine_reason

    def feed(self, generated: GenerationChunk) -> list[tuple[DeltaMessage, ChoiceLogprobs | None]]:
        logprobs = chat_logprobs(generated.logprobs) if self.request.logprobs and generated.logprobs else None
        if self.splitter is None:
            return self._content_deltas(generated.text, logprobs)
        split = self.splitter.feed(generated.text, len(generated.token_ids))
        out = [(DeltaMessage(reasoning_content=split.reasoning), logprobs)] if split.reasoning else []
        return out + self._content_deltas(split.content, None if out else logprobs)

    def _content_deltas(self, text: str, logprobs: ChoiceLogprobs | None) -> list[tuple[DeltaMessage, Any]]:
        if self.tools is not None:
            content, calls = self.tools.feed(text)
            return self._deltas(content, calls)
        if self.json_code:
            self.text += text
            return []
        if text or logprobs is not None:
            return [(DeltaMessage(content=text), logprobs)]
        return []

    def finish(self) -> list[tuple[DeltaMessage, None]]:
        out: list[tuple[DeltaMessage, None]] = []
        if self.splitter is not None:
            split = self.splitter.finish()
            if split.reasoning:
                out.append((DeltaMessage(reasoning_content=split.reasoning), None))
            out += [(delta, None) for delta, _ in self._content_deltas(split.content, None)]
        if self.tools is not None:
            return out + [(delta, None) for delta, _ in self._deltas(*self.tools.finish())]
        if self.json_code:
            return out + [(DeltaMessage(content=extract_json_code(self.text)), None)]
        return out

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
