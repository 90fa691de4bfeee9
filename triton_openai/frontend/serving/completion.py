"""ServingCompletion: /v1/completions (one or several prompts, n choices each)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from triton_openai.frontend.protocol.common import Usage
from triton_openai.frontend.protocol.completions import CompletionChoice, CompletionRequest, CompletionResponse
from triton_openai.frontend.protocol.structured import CompletionLogprobs
from triton_openai.frontend.serving.base import ServingBase
from triton_openai.frontend.serving.choices import Choice, ChoiceResult
from triton_openai.frontend.serving.structured import completion_constraints, completion_logprobs
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel
from triton_openai.frontend.triton.jobs import Prompt, TextPrompt


class ServingCompletion(ServingBase):
    request_id_prefix = "cmpl"

    @staticmethod
    def _echo(request: CompletionRequest, index: int) -> str:
        return request.prompts()[index // request.n] if request.echo else ""

    async def _start(self, request: CompletionRequest) -> tuple[ServedModel, str, list[Choice]]:
        guide = completion_constraints(request).guide
        return await self.start(request, _prompts(request), chat=False, guide=guide)

    def _logprobs(self, request: CompletionRequest, entries: list, offset: int) -> CompletionLogprobs | None:
        return completion_logprobs(entries, offset) if request.logprobs is not None else None

    async def create(self, request: CompletionRequest) -> CompletionResponse:
        model, request_id, choices = await self._start(request)
        results = await self.collect(model, choices, request_id)
        return CompletionResponse(
            id=request_id,
            created=self.now(),
            model=model.name,
            choices=[
                CompletionChoice(
                    index=i,
                    text=self._echo(request, i) + r.full_text,
                    logprobs=self._logprobs(request, r.logprobs, len(self._echo(request, i))),
                    finish_reason=r.finish_reason,
                    stop_reason=r.stop_reason,
                )
                for i, r in enumerate(results)
            ],
            usage=self.usage(results, prompts=len(request.prompts())),
            system_fingerprint=model.system_fingerprint,
        )

    async def create_stream(self, request: CompletionRequest) -> AsyncIterator[CompletionResponse]:
        model, request_id, choices = await self._start(request)
        stream = await self.stream(model, choices, request_id)
        return self._chunks(request, model, request_id, choices, stream)

    async def _chunks(
        self,
        request: CompletionRequest,
        model: ServedModel,
        request_id: str,
        choices: list[Choice],
        stream: AsyncIterator[tuple[int, GenerationChunk]],
    ) -> AsyncIterator[CompletionResponse]:
        """Each choice's text as it comes, with vLLM's stop_reason on every chunk (null until
        its last); the usage last (include_usage), or on every chunk too (continuous usage)."""
        created = self.now()
        results = [ChoiceResult() for _ in choices]
        offsets = [len(self._echo(request, i)) for i in range(len(choices))]

        def chunk(
            index: int, text: str, usage: Usage, result: ChoiceResult, logprobs: Any = None
        ) -> CompletionResponse:
            finish, stop = result.finish_reason, result.stop_reason  # None until the choice's last chunk
            choice = CompletionChoice(index=index, text=text, logprobs=logprobs, finish_reason=finish, stop_reason=stop)
            extra = {"usage": usage if request.continuous_usage else None} if request.include_usage else {}
            return CompletionResponse(
                id=request_id,
                created=created,
                model=model.name,
                choices=[choice],
                system_fingerprint=model.system_fingerprint,
                **extra,
            )

        echoed = [not request.echo] * len(choices)
        async for index, generated in stream:
            result = results[index]
            if not echoed[index]:  # the prompt first, with its token count (the model's first chunk has it)
                echoed[index] = True
                yield chunk(index, self._echo(request, index), Usage.of(generated.num_input_tokens, 0), result)
            result.add(generated)
            if generated.text or generated.finish_reason is not None:
                logprobs = self._logprobs(request, generated.logprobs, offsets[index])
                offsets[index] += len(generated.text)
                yield chunk(index, generated.text, result.usage(), result, logprobs)
        if request.include_usage:
            yield CompletionResponse(
                id=request_id,
                created=created,
                model=model.name,
                choices=[],
                system_fingerprint=model.system_fingerprint,
                usage=self.usage(results, prompts=len(request.prompts())),
            )


def _prompts(request: CompletionRequest) -> list[Prompt]:
    return [TextPrompt(p) if isinstance(p, str) else list(p) for p in request.prompts()]
