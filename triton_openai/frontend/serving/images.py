"""ServingImages: /v1/images/generations over the served image models."""

from __future__ import annotations

import base64
import time
import uuid

from triton_openai.frontend.files.generated_images import ImageStore
from triton_openai.frontend.protocol.images import ImageData, ImageGenerationRequest, ImagesResponse
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import ModelKind, TritonClient
from triton_openai.frontend.triton.jobs import ImageJob


class ServingImages:
    def __init__(self, engine: TritonClient, registry: ModelRegistry, store: ImageStore) -> None:
        self.engine = engine
        self.registry = registry
        self.store = store

    async def create(self, request: ImageGenerationRequest, base_url: str) -> ImagesResponse:
        """Generate the images; `base_url` (no trailing slash) prefixes their URLs."""
        model = await self.registry.resolve(request.model, ModelKind.IMAGE)
        width, height = request.dimensions(model.default_image_size)
        job = ImageJob(
            request.prompt,
            width,
            height,
            n=request.n,
            steps=request.steps(model.image_default_steps),
            negative_prompt=request.negative_prompt or None,
            guidance_scale=request.guidance_scale,
            seed=request.seed,
            output_format=request.output_format,
        )
        images = [image async for image in self.engine.generate_images(model, job, f"img-{uuid.uuid4().hex}")]
        if request.response_format == "url":
            names = [await self.store.put(image, request.output_format) for image in images]
            data = [ImageData(url=f"{base_url}/v1/images/{name}") for name in names]
        else:
            data = [ImageData(b64_json=base64.b64encode(image).decode("ascii")) for image in images]
        return ImagesResponse(
            created=int(time.time()),
            data=data,
            size=f"{width}x{height}",
            quality=request.quality,
            output_format=request.output_format,
        )
