"""Which models the API serves: a cached view of the backend's served models."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from triton_openai.frontend import errors
from triton_openai.frontend.lora import Adapter, AdapterTable
from triton_openai.frontend.triton.base import ModelKind, ServedModel, TritonClient

logger = logging.getLogger(__name__)

_REFRESH_SECONDS = 10.0

# OpenAI's model names, accepted for the first served model of their kind when no
# served model has the name (so code written for OpenAI runs unchanged).
OPENAI_ALIASES = {
    ModelKind.EMBEDDINGS: ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"),
    ModelKind.TRANSCRIPTION: ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"),
    ModelKind.SPEECH: ("tts-1", "tts-1-hd", "gpt-4o-mini-tts"),
    ModelKind.IMAGE: ("dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini"),
}
_KIND_NAMES = {
    ModelKind.LLM: "a text generation",
    ModelKind.EMBEDDINGS: "an embeddings",
    ModelKind.TRANSCRIPTION: "a speech-to-text",
    ModelKind.SPEECH: "a text-to-speech",
    ModelKind.IMAGE: "an image generation",
}


class ModelRegistry:
    def __init__(self, engine: TritonClient, adapters: AdapterTable | None = None) -> None:
        self._engine = engine
        self.adapters = adapters
        self._models: list[ServedModel] = []
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None

    async def list(self) -> list[ServedModel]:
        """The backend's models, then the LoRA adapters whose base model is among them. Once
        fetched, a stale list is served while a refresh runs beside the request."""
        if not self._fetched_at:
            await self.refresh()
        elif time.monotonic() - self._fetched_at > _REFRESH_SECONDS and self._refreshing is None:
            self._refreshing = asyncio.create_task(self._refresh_beside())
        if self.adapters is None:
            return self._models
        served = [self.adapter_model(a, self._models) for a in (await self.adapters.all()).values()]
        return self._models + [m for m in served if m is not None]

    @staticmethod
    def adapter_model(adapter: Adapter, models: list[ServedModel]) -> ServedModel | None:
        """`adapter` served on its base model (the first text generation model if it names none)."""
        bases = [m for m in models if m.kind == ModelKind.LLM and m.parent is None and not m.accepts_images]
        base = next((m for m in bases if adapter.base in (None, m.name)), None)
        if base is None:
            return None
        return replace(base, name=adapter.name, parent=base.name, lora_path=adapter.path)

    def cached(self) -> list[ServedModel]:
        """The backend's models as last fetched (none before the first fetch); never waits."""
        return self._models

    async def refresh(self) -> None:
        """Ask the backend for its models again, and read the adapters again (another frontend may have added one)."""
        async with self._lock:
            self._models = await self._engine.models()
            self._fetched_at = time.monotonic()
        if self.adapters is not None:
            await self.adapters.all(fresh=True)

    async def _refresh_beside(self) -> None:
        try:
            await self.refresh()
        except Exception:  # noqa: BLE001 - the next request tries again; this one has its list
            logger.warning("refreshing the model list failed", exc_info=True)
        finally:
            self._refreshing = None

    async def get(self, name: str) -> ServedModel:
        model = self._find(await self.list(), name)
        if model is None:
            await self.refresh()  # it may have been loaded since
            model = self._find(await self.list(), name)
        if model is None:
            raise errors.ModelNotFound(name)
        return model

    async def resolve_llm(self, name: str | None, *, chat: bool) -> ServedModel:
        """The model a chat or completions request asks for; the first suitable one if none."""
        if name:
            model = await self.get(name)
            if model.kind != ModelKind.LLM:
                raise errors.InvalidRequest(f"The model `{name}` does not generate text.", param="model")
            if chat and not model.has_chat_template:
                raise errors.InvalidRequest(
                    f"The model `{name}` has no chat template; use /v1/completions.", param="model"
                )
            return model
        for model in await self.list():
            if model.kind == ModelKind.LLM and (model.has_chat_template or not chat):
                return model
        raise errors.BackendUnavailable("no text generation model is loaded")

    async def resolve(self, name: str | None, kind: str) -> ServedModel:
        """The model of `kind` a request names (or an OpenAI alias of the kind); the first one if none."""
        if name:
            model = self._find(await self.list(), name)
            if model is None and name in OPENAI_ALIASES.get(kind, ()):
                model = next((m for m in await self.list() if m.kind == kind), None)
            model = model or await self.get(name)
            if model.kind != kind:
                raise errors.InvalidRequest(
                    f"The model `{name}` is {_KIND_NAMES.get(model.kind, model.kind)} model, "
                    f"not {_KIND_NAMES[kind]} model.",
                    param="model",
                )
            return model
        for model in await self.list():
            if model.kind == kind:
                return model
        what = _KIND_NAMES[kind].split(" ", 1)[1]
        raise errors.ModelNotFound("", f"This server serves no {what} model.")

    @staticmethod
    def _find(models: list[ServedModel], name: str) -> ServedModel | None:
        return next((m for m in models if m.name == name), None)
