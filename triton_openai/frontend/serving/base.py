"""What the serving classes share: the Triton client, the model registry, ids and clocks."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

from triton_openai.frontend import errors
from triton_openai.frontend.metrics import Metrics
from triton_openai.frontend.protocol.common import Usage
from triton_openai.frontend.protocol.sampling import SamplingFields
from triton_openai.frontend.serving.choices import Choice, ChoiceResult, collect_choices, primed, stream_choices
from triton_openai.frontend.serving.prompt_limits import PromptLimit
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel, TokenizedPrompt, TritonClient
from triton_openai.frontend.triton.jobs import GenerationJob, Guide, Prompt, TokenizeJob


class ServingBase:
    request_id_prefix = "req"

    def __init__(
        self, engine: TritonClient, registry: ModelRegistry, metrics: Metrics, max_prompt_tokens: int = 0
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.metrics = metrics
        self.max_prompt_tokens = max_prompt_tokens

    async def collect(self, model: ServedModel, choices: list[Choice], request_id: str) -> list[ChoiceResult]:
        return await collect_choices(self.engine, model, choices, request_id, self.metrics.timer(model.name))

    async def stream(
        self, model: ServedModel, choices: list[Choice], request_id: str
    ) -> AsyncIterator[tuple[int, GenerationChunk]]:
        """The choices' chunks, started now: errors before the first chunk raise here."""
        timer = self.metrics.timer(model.name)
        return await primed(stream_choices(self.engine, model, choices, request_id, timer))

    def new_request_id(self) -> str:
        return f"{self.request_id_prefix}-{uuid.uuid4().hex}"

    @staticmethod
    def now() -> int:
        return int(time.time())

    async def start(
        self, request: SamplingFields, prompts: list[Prompt], *, chat: bool, guide: Guide | None = None
    ) -> tuple[ServedModel, str, list[Choice]]:
        """The model that answers, a new request id, and the request's choices (every one held to `guide`)."""
        model = await self.registry.resolve_llm(request.model, chat=chat)
        return model, self.new_request_id(), self.choices(model, request, prompts, guide)

    def choices(
        self, model: ServedModel, request: SamplingFields, prompts: list[Prompt], guide: Guide | None
    ) -> list[Choice]:
        """The request's choices: n per prompt, each with its own seed; choice index = prompt
        index * n + j, as OpenAI numbers them.

        The model tokenizes the prompts as it starts them (one call per choice) and refuses one
        over the context, or over the server's --max-prompt-tokens, which the choices carry. A
        prompt longer in characters than that many tokens can hold is refused here, untokenized.
        """
        limit = PromptLimit.of(model, self.max_prompt_tokens)
        limit.check_characters(model, request.prompt_characters())
        sampling, seeds = request.sampling(guide), request.choice_seeds()
        max_prompt_tokens = limit.tokens if limit.by_server else None
        return [
            GenerationJob(prompt, replace(sampling, seed=seed), model.lora, max_prompt_tokens)
            for prompt in prompts
            for seed in seeds
        ]

    async def tokenize(self, model: ServedModel, prompt: Prompt) -> TokenizedPrompt:
        """A prompt tokenized by the model's tokenizer (its token ids as given), for counting and showing it."""
        if isinstance(prompt, list):
            return TokenizedPrompt(list(prompt))
        if not model.has_tokenizer:
            raise errors.InvalidRequest(
                f"The model `{model.name}` renders its prompts inside its engine; they cannot be shown or counted."
            )
        return await self.engine.tokenize(model, TokenizeJob(prompt))

    @staticmethod
    def usage(results: list[ChoiceResult], prompts: int = 1) -> Usage:
        """Prompt tokens (and the cached ones) once per prompt, as its first choice saw them;
        completion (and reasoning) tokens of every choice."""
        per_prompt = len(results) // prompts if prompts else 0
        firsts = [results[i * per_prompt] for i in range(prompts)] if per_prompt else []
        return Usage.of(
            sum(r.prompt_tokens for r in firsts),
            sum(r.completion_tokens for r in results),
            cached_tokens=sum(r.cached_tokens for r in firsts),
            reasoning_tokens=sum(r.reasoning_tokens for r in results),
        )
