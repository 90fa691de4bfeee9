from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from frontend.disconnect import cancel_on_disconnect
from frontend.protocol.common import dump
from frontend.protocol.completions import CompletionRequest
from frontend.sse import sse_response

router = APIRouter()


@router.post("/v1/completions")
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    serving = request.app.state.serving_completion
    if body.stream:
        return sse_response(await serving.create_stream(body))
    response = await cancel_on_disconnect(request, serving.create(body))
    return JSONResponse(dump(response))
