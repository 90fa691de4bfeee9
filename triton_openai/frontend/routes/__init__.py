"""Thin routes: take the serving object from app.state, call it, render the result."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from triton_openai.frontend.disconnect import cancel_on_disconnect
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.sse import OPENAI, Framing, sse_response


async def caller(request: Request, user: Any = None) -> str:
    """Whom the request is for: its API key's owner, or with closed access the user whose
    `name:password` it carries (401 otherwise)."""
    users = getattr(request.app.state, "users", None)
    if users is None:
        return request.state.owner
    # A route may ask before `respond` does: check the password (an scrypt hash) once.
    if getattr(request.state, "user_owner", None) is None:
        credentials = user if isinstance(user, str) else None
        request.state.user_owner = await asyncio.to_thread(users.authenticate, credentials)
    return request.state.user_owner


async def respond(
    request: Request,
    serving: Any,
    body: Any,
    *,
    framing: Framing = OPENAI,
    owned: bool = False,
    extra: dict[str, Any] | None = None,
) -> Response:
    """SSE for `stream: true`, else JSON; either way the work stops if the client goes away.
    `owned`: the serving methods take the caller too (what they keep belongs to it); `extra`:
    keyword arguments they take beside the body."""
    owner = await caller(request, getattr(body, "user", None))
    arguments = (body, owner) if owned else (body,)
    if body.stream:
        return sse_response(await serving.create_stream(*arguments, **(extra or {})), framing)
    return JSONResponse(dump(await cancel_on_disconnect(request, serving.create(*arguments, **(extra or {})))))
