"""ServingModels: /v1/models."""

from __future__ import annotations

from triton_openai.frontend.protocol.models import ModelCard, ModelList
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import ServedModel


class ServingModels:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    async def list(self) -> ModelList:
        return ModelList(data=[_card(m) for m in await self.registry.list()])

    async def get(self, name: str) -> ModelCard:
        return _card(await self.registry.get(name))


def _card(model: ServedModel) -> ModelCard:
    return ModelCard(
        id=model.name,
        created=model.created,
        root=model.lora_path or model.name,
        parent=model.parent,
        max_model_len=model.max_model_len,
        kind=model.kind,
    )
