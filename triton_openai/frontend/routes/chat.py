from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.routes import caller, respond
from triton_openai.frontend.serving.file_parts import resolve_file_parts

router = APIRouter()


@router.post("/v1/chat/completions")
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:
    owner = await caller(request, body.user)
    body = await resolve_file_parts(body, request.app.state.serving_files, owner)
    grounded = await request.app.state.document_chat.augment(body, owner)
    serving = request.app.state.serving_chat
    return await respond(request, serving, grounded.request, extra={"sources": grounded.sources})
