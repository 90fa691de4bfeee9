"""Thin routes: take the serving object from app.state, call it, render the result."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from frontend.disconnect import cancel_on_disconnect
from frontend.protocol.common import dump
from frontend.sse import sse_response


async def respond(request: Request, serving: Any, body: Any) -> Response:
    """SSE for `stream: true`, else JSON; either way the work stops if the client goes away."""
    if body.stream:
        return sse_response(await serving.create_stream(body))
    return JSONResponse(dump(await cancel_on_disconnect(request, serving.create(body))))
