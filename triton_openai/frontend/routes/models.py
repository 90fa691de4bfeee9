from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from triton_openai.frontend.protocol.common import dump

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> JSONResponse:
    return JSONResponse(dump(await request.app.state.serving_models.list()))


@router.get("/v1/models/{model:path}")
async def retrieve_model(model: str, request: Request) -> JSONResponse:
    return JSONResponse(dump(await request.app.state.serving_models.get(model)))
