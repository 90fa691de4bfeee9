"""Running a request's choices (n, or several prompts) as concurrent Triton streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from triton_openai.frontend.metrics import GenerationTimer
from triton_openai.frontend.protocol.common import Usage
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel, TritonClient
from triton_openai.frontend.triton.jobs import GenerationJob

# One choice to generate.
Choice = GenerationJob


@dataclass
class ChoiceResult:
    """What one choice produced, accumulated from its chunks."""

    text: list[str] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)  # tokens of each piece of text
    finish_reason: str | None = None
    stop_reason: str | int | None = None  # the stop string or stop token id that ended it
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the engine's prefix cache served
    completion_tokens: int = 0
    reasoning_tokens: int = 0  # set by the answer builder when it splits reasoning out
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    rendered_prompt: str | None = None  # the chat template's output, as the model's first chunk told it

    @property
    def full_text(self) -> str:
        return "".join(self.text)

    def usage(self) -> Usage:
        """This choice's usage so far (a stream's continuous usage)."""
        return Usage.of(
            self.prompt_tokens,
            self.completion_tokens,
            cached_tokens=self.cached_tokens,
            reasoning_tokens=self.reasoning_tokens,
        )

    def add(self, chunk: GenerationChunk) -> None:
        if chunk.rendered_prompt is not None:
            self.rendered_prompt = chunk.rendered_prompt
        self.text.append(chunk.text)
        self.token_counts.append(len(chunk.token_ids))
        self.logprobs.extend(chunk.logprobs)
        self.prompt_tokens = chunk.num_input_tokens
        self.cached_tokens = chunk.num_cached_tokens
        self.completion_tokens = chunk.num_output_tokens
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
            self.stop_reason = chunk.stop_reason


async def stream_choices(
    engine: TritonClient, model: ServedModel, choices: list[Choice], request_id: str, timer: GenerationTimer
) -> AsyncIterator[tuple[int, GenerationChunk]]:
    """Chunks of all choices as they come, tagged with the choice index, timed by `timer`.

    Closing this iterator (the client went away) cancels every stream still running.
    """
    queue: asyncio.Queue[tuple[int, GenerationChunk | BaseException | None]] = asyncio.Queue()

    async def pump(index: int, choice: Choice) -> None:
        try:
            async for chunk in engine.generate(model, choice, f"{request_id}-{index}"):
                await queue.put((index, chunk))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
            await queue.put((index, exc))
        finally:
            await queue.put((index, None))

    tasks = [asyncio.create_task(pump(i, choice)) for i, choice in enumerate(choices)]
    last: dict[int, GenerationChunk] = {}
    try:
        running = len(tasks)
        while running:
            index, item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                timer.chunk(index, len(item.token_ids))
                last[index] = item
                yield index, item
    finally:
        timer.finish(sum(c.num_input_tokens for c in last.values()), sum(c.num_output_tokens for c in last.values()))
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


async def collect_choices(
    engine: TritonClient, model: ServedModel, choices: list[Choice], request_id: str, timer: GenerationTimer
) -> list[ChoiceResult]:
    results = [ChoiceResult() for _ in choices]
    async for index, chunk in stream_choices(engine, model, choices, request_id, timer):
        results[index].add(chunk)
    return results


async def primed(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Wait for the first item now, so errors before it become HTTP errors, not SSE events."""
    iterator = aiter(stream)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        first = None

    async def rest() -> AsyncIterator[Any]:
        try:
            if first is not None:
                yield first
                async for item in iterator:
                    yield item
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]

    return rest()
