"""What the serving classes share: the Triton client, the model registry, ids and clocks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from triton_openai.frontend.metrics import Metrics
from triton_openai.frontend.protocol.common import Usage
from triton_openai.frontend.protocol.sampling import SamplingFields
from triton_openai.frontend.serving.choices import Choice, ChoiceResult, collect_choices, primed, stream_choices
from triton_openai.frontend.serving.prompt_limits import PromptLimit
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel, TokenizedPrompt, TritonClient
from triton_openai.frontend.triton.jobs import GenerationJob, Guide, Prompt, Sampling, TokenizeJob


@dataclass(frozen=True)
class Prepared:
    """A request's choices, and its prompts as tokenized (none for a model that tokenizes itself)."""

    choices: list[Choice]
    prompts: list[TokenizedPrompt]


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
        return model, self.new_request_id(), (await self.prepare(model, request, prompts, guide)).choices

    async def prepare(
        self, model: ServedModel, request: SamplingFields, prompts: list[Prompt], guide: Guide | None
    ) -> Prepared:
        """The prompts tokenized (over-long ones refused first) and their choices: n per prompt,
        each prompt tokenized once, each choice with its own seed.

        Choice index = prompt index * n + j, as OpenAI numbers them.
        """
        sampling = request.sampling(guide)
        if model.tokenizes_itself:  # the prompt travels as it is; the model checks its length
            return Prepared(_choices(model, sampling, prompts, request.choice_seeds()), [])
        limit = PromptLimit.of(model, self.max_prompt_tokens)
        limit.check_characters(model, request.prompt_characters())
        tokenized = await asyncio.gather(*(self._tokenize(model, prompt) for prompt in prompts))
        limit.check_tokens(max((len(p.token_ids) for p in tokenized), default=0))
        ids: list[Prompt] = [p.token_ids for p in tokenized]
        return Prepared(_choices(model, sampling, ids, request.choice_seeds()), tokenized)

    async def _tokenize(self, model: ServedModel, prompt: Prompt) -> TokenizedPrompt:
        """A prompt tokenized: its token ids as given, or by the model's tokenizer."""
        if isinstance(prompt, list):
            return TokenizedPrompt(list(prompt))
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


def _choices(model: ServedModel, sampling: Sampling, prompts: list[Prompt], seeds: list[int]) -> list[Choice]:
    return [GenerationJob(prompt, replace(sampling, seed=seed), model.lora) for prompt in prompts for seed in seeds]
