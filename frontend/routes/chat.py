from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from frontend.disconnect import cancel_on_disconnect
from frontend.protocol.chat import ChatCompletionRequest
from frontend.protocol.common import dump
from frontend.sse import sse_response

router = APIRouter()


@router.post("/v1/chat/completions")
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:
    serving = request.app.state.serving_chat
    if body.stream:
        return sse_response(await serving.create_stream(body))
    response = await cancel_on_disconnect(request, serving.create(body))
    return JSONResponse(dump(response))
