"""/v1/images: generation, and the generated images served by URL."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from triton_openai.frontend import errors
from triton_openai.frontend.disconnect import cancel_on_disconnect
from triton_openai.frontend.files.store import FileNotFound
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.protocol.images import ImageGenerationRequest
from triton_openai.frontend.routes import caller

router = APIRouter()


@router.post("/v1/images/generations")
async def create_image(body: ImageGenerationRequest, request: Request) -> Response:
    await caller(request, body.user)
    public = request.app.state.public_url or str(request.base_url)
    result = await cancel_on_disconnect(request, request.app.state.serving_images.create(body, public.rstrip("/")))
    return JSONResponse(dump(result))


@router.get("/v1/images/{name}")
async def generated_image(name: str, request: Request) -> Response:
    try:
        data, media_type, seconds_left = await request.app.state.generated_images.get(name)
    except FileNotFound:
        raise errors.ObjectNotFound(f"No image named {name!r} (image URLs expire).") from None
    return Response(data, media_type=media_type, headers={"Cache-Control": f"private, max-age={seconds_left}"})
