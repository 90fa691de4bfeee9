from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from triton_openai import __version__
from triton_openai.frontend.errors import BackendUnavailable

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 when Triton is ready to serve, 503 otherwise (for load balancers and probes)."""
    if not await request.app.state.engine.ready():
        raise BackendUnavailable("Triton is not ready")
    return JSONResponse({"status": "ok"})


@router.get("/version")
async def version(request: Request) -> JSONResponse:
    try:
        triton = await request.app.state.engine.version()
    except BackendUnavailable:
        triton = None
    return JSONResponse({"version": __version__, "triton_version": triton})
