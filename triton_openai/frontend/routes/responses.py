"""OpenAI's Responses API: create (whole, streamed or in the background), retrieve, cancel, delete,
input items, input tokens."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.protocol.responses import ResponseInputs, ResponsesRequest
from triton_openai.frontend.routes import caller, respond
from triton_openai.frontend.sse import RESPONSES

router = APIRouter()


@router.post("/v1/responses")
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    return await respond(request, request.app.state.serving_responses, body, framing=RESPONSES, owned=True)


@router.post("/v1/responses/input_tokens")
async def count_input_tokens(body: ResponseInputs, request: Request) -> JSONResponse:
    owner = await caller(request, body.user)
    return JSONResponse(dump(await request.app.state.serving_responses.input_tokens(body, owner)))


@router.get("/v1/responses/{response_id}")
async def retrieve_response(response_id: str, request: Request, user: str | None = None) -> JSONResponse:
    owner = await caller(request, user)
    return JSONResponse(dump(await request.app.state.serving_responses.retrieve(owner, response_id)))


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str, request: Request, user: str | None = None) -> JSONResponse:
    owner = await caller(request, user)
    return JSONResponse(dump(await request.app.state.serving_responses.delete(owner, response_id)))


@router.post("/v1/responses/{response_id}/cancel")
async def cancel_response(response_id: str, request: Request, user: str | None = None) -> JSONResponse:
    owner = await caller(request, user)
    return JSONResponse(dump(await request.app.state.serving_responses.cancel(owner, response_id)))


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    request: Request,
    limit: int = Query(20),
    after: str | None = None,
    order: Literal["asc", "desc"] = "desc",
    user: str | None = None,
) -> JSONResponse:
    owner = await caller(request, user)
    items = await request.app.state.serving_responses.input_items(owner, response_id, limit, after, order)
    return JSONResponse(dump(items))
