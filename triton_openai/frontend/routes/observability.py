from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from triton_openai.frontend.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics (the engine gauges are read from Triton, so off the event loop)."""
    return Response(await run_in_threadpool(request.app.state.metrics.render), media_type=CONTENT_TYPE)
