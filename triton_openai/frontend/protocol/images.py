"""/v1/images/generations: request and response types (OpenAI's, plus h2oGPT's and diffusers' knobs)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from triton_openai.frontend.protocol.common import RequestModel, ResponseModel

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
# quality -> share of the model's default denoising steps (when num_inference_steps is not set)
QUALITY_STEPS = {"low": 0.5, "standard": 1.0, "medium": 1.0, "auto": 1.0, "high": 2.0, "hd": 2.0}


class ImageGenerationRequest(RequestModel):
    prompt: str = Field(min_length=1, max_length=32000)
    model: str | None = None
    n: int = Field(1, ge=1, le=10)
    size: str = "auto"
    quality: Literal["auto", "standard", "hd", "low", "medium", "high"] = "auto"
    # OpenAI's dall-e default is url; gpt-image models always answer b64_json, as we do unless asked.
    response_format: Literal["url", "b64_json"] | None = None
    output_format: Literal["png", "jpeg", "webp"] = "png"
    user: str | None = None
    # Extensions (extra_body): h2oGPT's and diffusers' names.
    seed: int | None = Field(None, ge=0, lt=2**63)
    guidance_scale: float | None = Field(None, ge=0, le=100)
    num_inference_steps: int | None = Field(None, ge=1, le=200)
    negative_prompt: str | None = Field(None, max_length=32000)

    @field_validator("size")
    @classmethod
    def _check_size(cls, size: str) -> str:
        if size != "auto" and not _SIZE.match(size):
            raise ValueError("size must be 'auto' or WIDTHxHEIGHT in pixels, e.g. 1024x1024")
        return size

    def dimensions(self, default: str) -> tuple[int, int]:
        """(width, height) asked for; `default` (WIDTHxHEIGHT) for auto."""
        match = _SIZE.match(default if self.size == "auto" else self.size)
        if match is None:
            return 1024, 1024
        return int(match.group(1)), int(match.group(2))

    def steps(self, default_steps: int) -> int:
        if self.num_inference_steps is not None:
            return self.num_inference_steps
        return max(1, round(default_steps * QUALITY_STEPS[self.quality]))


class ImageData(ResponseModel):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(ResponseModel):
    created: int
    data: list[ImageData]
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
