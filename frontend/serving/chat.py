"""ServingChat: /v1/chat/completions over the served LLMs."""

from __future__ import annotations

from collections.abc import AsyncIterator

from engine import tensors as t
from frontend.protocol.chat import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    DeltaMessage,
)
from frontend.serving.base import ServingBase
from frontend.serving.choices import ChoiceResult
from frontend.triton.base import GenerationChunk, ServedModel


class ServingChat(ServingBase):
    request_id_prefix = "chatcmpl"

    async def create(self, request: ChatCompletionRequest) -> ChatCompletionResponse:
        model, request_id, choices = await self.start(request, _prompt(request), chat=True)
        results = await self.collect(model, choices, request_id)
        return ChatCompletionResponse(
            id=request_id,
            created=self.now(),
            model=model.name,
            choices=[_choice(i, r) for i, r in enumerate(results)],
            usage=self.usage(results),
            system_fingerprint=model.system_fingerprint,
        )

    async def create_stream(self, request: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        model, request_id, choices = await self.start(request, _prompt(request), chat=True)
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
        include_usage = request.include_usage

        def chunk(index: int, delta: DeltaMessage, finish_reason: str | None = None) -> ChatCompletionChunk:
            choice = ChatChunkChoice(index=index, delta=delta, logprobs=None, finish_reason=finish_reason)
            extra = {"usage": None} if include_usage else {}
            return ChatCompletionChunk(
                id=request_id,
                created=created,
                model=model.name,
                choices=[choice],
                system_fingerprint=model.system_fingerprint,
                **extra,
            )

        for index in range(request.n):
            yield chunk(index, DeltaMessage(role="assistant", content=""))
        async for index, generated in stream:
            results[index].add(generated)
            if generated.text:
                yield chunk(index, DeltaMessage(content=generated.text))
            if generated.finish_reason is not None:
                yield chunk(index, DeltaMessage(), generated.finish_reason)
        if include_usage:
            yield ChatCompletionChunk(
                id=request_id,
                created=created,
                model=model.name,
                choices=[],
                system_fingerprint=model.system_fingerprint,
                usage=self.usage(results),
            )


def _prompt(request: ChatCompletionRequest) -> list[dict[str, str]]:
    return [{t.MESSAGES: request.messages_json()}]


def _choice(index: int, result: ChoiceResult) -> ChatChoice:
    return ChatChoice(
        index=index,
        message=AssistantMessage(content="".join(result.text)),
        logprobs=None,
        finish_reason=result.finish_reason,
    )
