"""ServingLoRA: load and unload LoRA adapters at run time.

Loading checks the adapter for real: a one-token generation through it makes the engine
read the folder and fit it to the base model (rank, target modules, shapes), so a bad
adapter is refused with the engine's message instead of failing later requests.
"""

from __future__ import annotations

import uuid

from triton_openai.frontend import errors
from triton_openai.frontend.lora import Adapter
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import TritonClient
from triton_openai.frontend.triton.jobs import GenerationJob, Sampling


class ServingLoRA:
    def __init__(self, engine: TritonClient, registry: ModelRegistry) -> None:
        self.engine = engine
        self.registry = registry

    async def check(self, adapter: Adapter) -> None:
        """A one-token generation through `adapter`: the engine loads it now (400 if it does not fit)."""
        model = self.registry.adapter_model(adapter, await self._base_models())
        if model is None:
            base = adapter.base or "a text generation model"
            raise errors.InvalidRequest(f"LoRA adapter {adapter.name!r}: its base model {base} is not loaded")
        try:
            async for _ in self.engine.generate(
                model, GenerationJob([0], Sampling(max_tokens=1), model.lora), _request_id()
            ):
                pass
        except errors.InvalidRequest as exc:
            raise errors.InvalidRequest(exc.message, param="lora_path") from None

    async def load(self, name: str, path: str, base: str | None) -> str:
        table = self._table()
        if any(m.name == name for m in await self.registry.list()):
            raise errors.InvalidRequest(f"The model or LoRA adapter {name!r} is already loaded.", param="lora_name")
        adapter = Adapter(name, path, base)
        await self.check(adapter)
        await table.add(adapter)
        return f"Success: LoRA adapter '{name}' added successfully."

    async def unload(self, name: str) -> str:
        table = self._table()
        adapter = (await table.all()).get(name)
        if adapter is None:
            raise errors.ObjectNotFound(f"The LoRA adapter {name!r} is not loaded.", param="lora_name")
        if name in table.static:
            raise errors.InvalidRequest(
                f"The LoRA adapter {name!r} was given with --lora; it stays.", param="lora_name"
            )
        model = self.registry.adapter_model(adapter, await self._base_models())
        await table.remove(name)
        if model is not None:
            await self.engine.unload_lora(model, name)
        return f"Success: LoRA adapter '{name}' removed successfully."

    async def _base_models(self):
        return [m for m in await self.registry.list() if m.parent is None]

    def _table(self):
        if self.registry.adapters is None:
            raise errors.InvalidRequest("LoRA adapters are off on this server.")
        return self.registry.adapters


def _request_id() -> str:
    return f"lora-check-{uuid.uuid4().hex}"
