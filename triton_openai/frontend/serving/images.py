"""ServingImages: /v1/images/generations over the served image models."""

from __future__ import annotations

import base64
import time
import uuid

from triton_openai import contract as t
from triton_openai.frontend.files.generated_images import ImageStore
from triton_openai.frontend.protocol.images import ImageData, ImageGenerationRequest, ImagesResponse
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import TritonClient


class ServingImages:
    def __init__(self, engine: TritonClient, registry: ModelRegistry, store: ImageStore) -> None:
        self.engine = engine
        self.registry = registry
        self.store = store

    async def create(self, request: ImageGenerationRequest, base_url: str) -> ImagesResponse:
        """Generate the images; `base_url` (no trailing slash) prefixes their URLs."""
        model = await self.registry.resolve(request.model, t.KIND_IMAGE)
        width, height = request.dimensions(model.parameters.get(t.PARAM_DEFAULT_SIZE, "1024x1024"))
        options = {
            t.TEXT_INPUT: request.prompt,
            t.NEGATIVE_PROMPT: request.negative_prompt or None,
            t.NUM_IMAGES: request.n,
            t.WIDTH: width,
            t.HEIGHT: height,
            t.NUM_INFERENCE_STEPS: request.steps(model.int_parameter("default_steps", 20)),
            t.GUIDANCE_SCALE: request.guidance_scale,
            t.SEED: request.seed,
            t.OUTPUT_FORMAT: request.output_format,
        }
        images = [image async for image in self.engine.generate_images(model, options, f"img-{uuid.uuid4().hex}")]
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
