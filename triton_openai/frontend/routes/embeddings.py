from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from triton_openai.frontend.disconnect import cancel_on_disconnect
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.protocol.embeddings import EmbeddingRequest
from triton_openai.frontend.routes import caller

router = APIRouter()


@router.post("/v1/embeddings")
async def create_embeddings(body: EmbeddingRequest, request: Request) -> JSONResponse:
    serving = request.app.state.serving_embeddings
    await caller(request, body.user)
    return JSONResponse(dump(await cancel_on_disconnect(request, serving.create(body))))
