from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from frontend.disconnect import cancel_on_disconnect
from frontend.protocol.common import dump
from frontend.protocol.embeddings import EmbeddingRequest
from frontend.routes import caller

router = APIRouter()


@router.post("/v1/embeddings")
async def create_embeddings(body: EmbeddingRequest, request: Request) -> JSONResponse:
    serving = request.app.state.serving_embeddings
    await caller(request, body.user)
    return JSONResponse(dump(await cancel_on_disconnect(request, serving.create(body))))
