"""Several Triton servers with the same models, behind one TritonClient.

Each request goes to the healthy server with the fewest requests in flight from this
frontend (least outstanding requests; ties go round the servers in turn). A server is
marked unhealthy when a call to it finds it unreachable, or when its readiness check
fails; a background check every `health_interval` seconds marks it healthy again when it
answers. A request that finds its server unreachable before anything came back is tried
on the next server, so a server that dies costs its streams in flight only.

With one URL the pool is a thin wrapper; the rest of the frontend sees one TritonClient either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from triton_openai.frontend import errors
from triton_openai.frontend.triton import jobs
from triton_openai.frontend.triton.base import AudioChunk, GenerationChunk, ServedModel, TokenizedPrompt, TritonClient
from triton_openai.frontend.triton.client import GrpcTritonClient

logger = logging.getLogger(__name__)

_READY_TIMEOUT = 2.0


@dataclass(eq=False)
class _Member:
    url: str
    engine: Any
    healthy: bool = True
    outstanding: int = 0
    picked: int = field(default=0)  # when it was last chosen (for ties)


class TritonPool:
    def __init__(
        self,
        urls: list[str],
        health_interval: float = 2.0,
        engine_factory: Callable[[str], TritonClient] = GrpcTritonClient,
    ) -> None:
        if not urls:
            raise ValueError("the pool needs at least one Triton URL")
        self.members = [_Member(url, engine_factory(url)) for url in urls]
        self.health_interval = health_interval
        self._clock = itertools.count(1)
        self._health_task: asyncio.Task | None = None

    # -- health ---------------------------------------------------------------------------

    def _watch(self) -> None:
        if self._health_task is None and len(self.members) > 1:
            self._health_task = asyncio.get_running_loop().create_task(self._health_loop())

    async def _health_loop(self) -> None:
        while True:
            await asyncio.gather(*(self._check(m) for m in self.members))
            await asyncio.sleep(self.health_interval)

    async def _check(self, member: _Member) -> bool:
        try:
            ready = await asyncio.wait_for(member.engine.ready(), _READY_TIMEOUT)
        except (TimeoutError, Exception):  # noqa: BLE001 - any failure means not ready
            ready = False
        self._mark(member, bool(ready))
        return bool(ready)

    def _mark(self, member: _Member, healthy: bool) -> None:
        if member.healthy != healthy:
            logger.warning("Triton at %s is %s", member.url, "back" if healthy else "unavailable")
        member.healthy = healthy

    # -- choosing a server ----------------------------------------------------------------

    def _pick(self, tried: set[int]) -> _Member | None:
        self._watch()
        left = [m for m in self.members if id(m) not in tried]
        healthy = [m for m in left if m.healthy] or left  # none healthy: try anyway, it may be back
        if not healthy:
            return None
        member = min(healthy, key=lambda m: (m.outstanding, m.picked))
        member.picked = next(self._clock)
        return member

    @contextlib.contextmanager
    def _using(self, member: _Member) -> Iterator[None]:
        member.outstanding += 1
        try:
            yield
        except errors.BackendUnavailable:
            self._mark(member, False)
            raise
        finally:
            member.outstanding -= 1

    async def _call(self, name: str, *args: Any) -> Any:
        tried: set[int] = set()
        while (member := self._pick(tried)) is not None:
            tried.add(id(member))
            try:
                with self._using(member):
                    return await getattr(member.engine, name)(*args)
            except errors.BackendUnavailable:
                if len(tried) == len(self.members):
                    raise
        raise errors.BackendUnavailable("no Triton server is available")

    async def _stream(self, name: str, *args: Any) -> AsyncIterator[Any]:
        tried: set[int] = set()
        while (member := self._pick(tried)) is not None:
            tried.add(id(member))
            started = False
            try:
                stream = getattr(member.engine, name)(*args)
                with self._using(member):
                    async with contextlib.aclosing(stream):  # closing early cancels the request at once
                        async for item in stream:
                            started = True
                            yield item
                return
            except errors.BackendUnavailable:
                if started or len(tried) == len(self.members):
                    raise
        raise errors.BackendUnavailable("no Triton server is available")

    # -- the TritonClient protocol --------------------------------------------------------------

    async def ready(self) -> bool:
        self._watch()
        results = await asyncio.gather(*(self._check(m) for m in self.members))
        return any(results)

    async def version(self) -> str:
        return await self._call("version")

    async def models(self) -> list[ServedModel]:
        return await self._call("models")

    async def tokenize(self, model: ServedModel, job: jobs.TokenizeJob) -> TokenizedPrompt:
        return await self._call("tokenize", model, job)

    async def detokenize(self, model: ServedModel, token_ids: list[int]) -> str:
        return await self._call("detokenize", model, token_ids)

    def generate(self, model: ServedModel, job: jobs.GenerationJob, request_id: str) -> AsyncIterator[GenerationChunk]:
        return self._stream("generate", model, job, request_id)

    async def embed(self, model: ServedModel, job: jobs.EmbeddingJob) -> tuple[Any, list[int]]:
        return await self._call("embed", model, job)

    def transcribe(
        self, model: ServedModel, job: jobs.TranscriptionJob, request_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        return self._stream("transcribe", model, job, request_id)

    def synthesize(self, model: ServedModel, job: jobs.SpeechJob, request_id: str) -> AsyncIterator[AudioChunk]:
        return self._stream("synthesize", model, job, request_id)

    def generate_images(self, model: ServedModel, job: jobs.ImageJob, request_id: str) -> AsyncIterator[bytes]:
        return self._stream("generate_images", model, job, request_id)

    async def unload_lora(self, model: ServedModel, name: str) -> None:
        """On every server: each engine keeps its own adapters."""
        for member in self.members:
            with contextlib.suppress(errors.BackendUnavailable), self._using(member):
                await member.engine.unload_lora(model, name)

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        for member in self.members:
            await member.engine.close()
