"""/v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's admin routes)."""

from __future__ import annotations

from pydantic import Field

from triton_openai.frontend.protocol.common import RequestModel


class LoadLoRAAdapterRequest(RequestModel):
    lora_name: str = Field(min_length=1, max_length=256, pattern=r"^[^\s/:]+$")
    lora_path: str = Field(min_length=1)
    base_model_name: str | None = None  # extension: the base model (default: the first text model)


class UnloadLoRAAdapterRequest(RequestModel):
    lora_name: str = Field(min_length=1)
    lora_int_id: int | None = None  # vLLM's; accepted and not needed
