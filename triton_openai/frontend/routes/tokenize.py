"""Token utilities, at vLLM's paths: /tokenize, /detokenize; and a chat request rendered without generating."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.protocol.tokenize import DetokenizeRequest, TokenizeRequest
from triton_openai.frontend.routes import caller
from triton_openai.frontend.serving.file_parts import resolve_file_parts

router = APIRouter()


@router.post("/tokenize")
async def tokenize(body: TokenizeRequest, request: Request) -> JSONResponse:
    await caller(request, body.user)
    return JSONResponse(dump(await request.app.state.serving_tokenize.tokenize(body)))


@router.post("/detokenize")
async def detokenize(body: DetokenizeRequest, request: Request) -> JSONResponse:
    await caller(request, body.user)
    return JSONResponse(dump(await request.app.state.serving_tokenize.detokenize(body)))


@router.post("/v1/chat/completions/render")
async def render_chat_completion(body: ChatCompletionRequest, request: Request) -> JSONResponse:
    owner = await caller(request, body.user)
    body = await resolve_file_parts(body, request.app.state.serving_files, owner)
    grounded = await request.app.state.document_chat.augment(body, owner)
    return JSONResponse(dump(await request.app.state.serving_chat.render(grounded.request)))
