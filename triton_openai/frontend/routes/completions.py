from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from triton_openai.frontend.protocol.completions import CompletionRequest
from triton_openai.frontend.routes import respond

router = APIRouter()


@router.post("/v1/completions")
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    return await respond(request, request.app.state.serving_completion, body)
