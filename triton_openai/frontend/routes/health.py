from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from triton_openai import __version__
from triton_openai.frontend.errors import BackendUnavailable

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 when Triton is ready to serve, 503 otherwise (for load balancers and probes).

    A database outage does not fail it: chat and embeddings keep serving, so every pod
    stays in the Service; the body says whether the database is reachable."""
    if not await request.app.state.engine.ready():
        raise BackendUnavailable("Triton is not ready")
    body = {"status": "ok"}
    if request.app.state.database is not None:
        body["database"] = "ok" if request.app.state.database.available else "unavailable"
    return JSONResponse(body)


@router.get("/version")
async def version(request: Request) -> JSONResponse:
    try:
        triton = await request.app.state.engine.version()
    except BackendUnavailable:
        triton = None
    return JSONResponse({"version": __version__, "triton_version": triton})
