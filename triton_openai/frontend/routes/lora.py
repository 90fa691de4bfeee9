"""Admin routes: LoRA adapters loaded and unloaded at run time (vLLM's names and answers).
With API keys on, they take only admin keys (triton_openai.frontend.auth)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from triton_openai.frontend.protocol.lora import LoadLoRAAdapterRequest, UnloadLoRAAdapterRequest

router = APIRouter()
ADMIN_PATHS = ("/v1/load_lora_adapter", "/v1/unload_lora_adapter")


@router.post("/v1/load_lora_adapter")
async def load_lora_adapter(body: LoadLoRAAdapterRequest, request: Request) -> PlainTextResponse:
    serving = request.app.state.serving_lora
    return PlainTextResponse(await serving.load(body.lora_name, body.lora_path, body.base_model_name))


@router.post("/v1/unload_lora_adapter")
async def unload_lora_adapter(body: UnloadLoRAAdapterRequest, request: Request) -> PlainTextResponse:
    return PlainTextResponse(await request.app.state.serving_lora.unload(body.lora_name))
