"""What the serving classes share: the Triton client, the model registry, ids and clocks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from triton_openai import contract as t
from triton_openai.frontend import errors
from triton_openai.frontend.metrics import Metrics
from triton_openai.frontend.protocol.common import Usage
from triton_openai.frontend.protocol.sampling import SamplingFields
from triton_openai.frontend.serving.choices import Choice, ChoiceResult, collect_choices, primed, stream_choices
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel, TritonClient


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
        self,
        request: SamplingFields,
        prompts: list[dict[str, Any]],
        *,
        chat: bool,
        extra: dict[str, Any] | None = None,
    ) -> tuple[ServedModel, str, list[Choice]]:
        """The model that answers, a new request id, and the request's choices;
        `extra` inputs (a guide) go to every choice."""
        model = await self.registry.resolve_llm(request.model, chat=chat)
        return model, self.new_request_id(), await self.choices(model, request, prompts, extra or {})

    async def choices(
        self, model: ServedModel, request: SamplingFields, prompts: list[dict[str, Any]], extra: dict[str, Any]
    ) -> list[Choice]:
        """n choices per prompt, each prompt tokenized once, each choice with its own seed.

        Choice index = prompt index * n + j, as OpenAI numbers them.
        """
        parameters = {**request.generation_inputs(), **extra}
        if model.tokenizes_itself:  # the prompt travels as it is; the model checks its length
            seeds = request.choice_seeds()
            return [([], {**parameters, **prompt, t.SEED: seed}) for prompt in prompts for seed in seeds]
        token_ids = await asyncio.gather(*(self._token_ids(model, prompt) for prompt in prompts))
        longest = max((len(ids) for ids in token_ids), default=0)
        if self.max_prompt_tokens and longest > self.max_prompt_tokens:
            raise errors.InvalidRequest(
                f"the prompt has {longest} tokens; this server takes at most {self.max_prompt_tokens} prompt tokens",
                code="context_length_exceeded",
            )
        return [(ids, {**parameters, t.SEED: seed}) for ids in token_ids for seed in request.choice_seeds()]

    async def _token_ids(self, model: ServedModel, prompt: dict[str, Any]) -> list[int]:
        """A prompt's token ids: given as such, or from the model's tokenizer."""
        if t.INPUT_IDS in prompt:
            return list(prompt[t.INPUT_IDS])
        return await self.engine.tokenize(model, prompt)

    @staticmethod
    def usage(results: list[ChoiceResult], prompts: int = 1) -> Usage:
        """Prompt tokens once per prompt, completion tokens of every choice."""
        per_prompt = len(results) // prompts if prompts else 0
        prompt_tokens = sum(results[i * per_prompt].prompt_tokens for i in range(prompts)) if per_prompt else 0
        return Usage.of(prompt_tokens, sum(r.completion_tokens for r in results))
