"""Anthropic's Messages API: messages (whole or streamed) and their token count; errors in Anthropic's envelope."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from triton_openai.frontend.protocol.anthropic import MessagesInputs, MessagesRequest
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.routes import caller, respond
from triton_openai.frontend.sse import ANTHROPIC

router = APIRouter()


@router.post("/v1/messages")
async def create_message(body: MessagesRequest, request: Request) -> Response:
    return await respond(request, request.app.state.serving_messages, body, framing=ANTHROPIC, owned=True)


@router.post("/v1/messages/count_tokens")
async def count_tokens(body: MessagesInputs, request: Request) -> JSONResponse:
    owner = await caller(request, getattr(body, "user", None))
    return JSONResponse(dump(await request.app.state.serving_messages.count_tokens(body, owner)))
