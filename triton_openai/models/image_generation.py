"""Image generation with a diffusers pipeline folder (the class its model_index.json names).

SD-Turbo, SDXL(-Turbo), Stable Diffusion 3, FLUX and other pipelines that take a text
prompt load with `DiffusionPipeline.from_pretrained`. Each image of a request is drawn
with its own seeded generator (seed, seed + 1, ...), so a seed gives the same images
again. A pipeline keeps per-call state (its scheduler's timesteps), so one call runs at a
time; a cancelled request stops at the next denoising step.
"""

from __future__ import annotations

import inspect
import io
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from triton_openai.models.llm.params import InvalidRequest

logger = logging.getLogger(__name__)

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MAX_SIDE = 4096
MAX_STEPS = 200


class Cancelled(Exception):
    """The client went away: stop denoising."""


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    width: int
    height: int
    n: int = 1
    steps: int = 0  # 0: the model's default
    guidance_scale: float | None = None  # None: the pipeline's default
    seed: int | None = None
    negative_prompt: str = ""
    output_format: str = "png"


class ImageGenerator:
    def __init__(self, model_dir: str, device: str = "auto", dtype: str = "auto", default_steps: int = 20) -> None:
        import torch
        from diffusers import DiffusionPipeline

        from triton_openai.models.llm.model_loader import resolve_device, resolve_dtype

        self.device = resolve_device(device)
        dtype_ = resolve_dtype(dtype, self.device)
        self.pipeline = DiffusionPipeline.from_pretrained(model_dir, torch_dtype=dtype_).to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self.default_steps = default_steps
        # Latents are the image divided by the VAE's factor; some transformers pack 2x2 latent patches.
        factor = int(getattr(self.pipeline, "vae_scale_factor", 8) or 8)
        self.size_multiple = factor * (2 if "Flux" in type(self.pipeline).__name__ else 1)
        self._accepts = set(inspect.signature(self.pipeline.__call__).parameters)
        self._lock = threading.Lock()
        self._torch = torch
        logger.info("loaded %s (%s) on %s", model_dir, type(self.pipeline).__name__, self.device)

    def check(self, request: ImageRequest) -> None:
        if not request.prompt.strip():
            raise InvalidRequest("prompt is empty")
        for side, value in (("width", request.width), ("height", request.height)):
            if not self.size_multiple <= value <= MAX_SIDE or value % self.size_multiple:
                raise InvalidRequest(
                    f"size: {side} {value} is not supported by this model; each side must be a multiple of "
                    f"{self.size_multiple} between {self.size_multiple} and {MAX_SIDE}"
                )
        if not 1 <= request.n <= 10:
            raise InvalidRequest("n must be between 1 and 10")
        if not 0 <= request.steps <= MAX_STEPS:
            raise InvalidRequest(f"num_inference_steps must be between 1 and {MAX_STEPS}")
        if request.guidance_scale is not None and not 0 <= request.guidance_scale <= 100:
            raise InvalidRequest("guidance_scale must be between 0 and 100")
        if request.output_format not in FORMATS:
            raise InvalidRequest(f"output_format must be one of {', '.join(FORMATS)}")
        if request.negative_prompt and "negative_prompt" not in self._accepts:
            raise InvalidRequest("this model takes no negative_prompt")

    def generate(self, request: ImageRequest, is_cancelled: Callable[[], bool] = lambda: False) -> Iterator[bytes]:
        """The encoded images one by one, as each is done."""
        self.check(request)
        seed = request.seed if request.seed is not None else random.getrandbits(63)
        for i in range(request.n):
            image = self._one(request, (seed + i) % 2**64, is_cancelled)
            if image is None:
                return
            out = io.BytesIO()
            image.save(out, format=FORMATS[request.output_format])
            yield out.getvalue()

    def _one(self, request: ImageRequest, seed: int, is_cancelled: Callable[[], bool]):
        def stop_if_cancelled(pipeline, step, timestep, tensors):
            if is_cancelled():
                raise Cancelled
            return tensors

        options = {
            "prompt": request.prompt,
            "width": request.width,
            "height": request.height,
            "num_inference_steps": request.steps or self.default_steps,
            "generator": self._torch.Generator(device="cpu").manual_seed(seed),
            "output_type": "pil",
        }
        if request.guidance_scale is not None and "guidance_scale" in self._accepts:
            options["guidance_scale"] = request.guidance_scale
        if request.negative_prompt:
            options["negative_prompt"] = request.negative_prompt
        if "callback_on_step_end" in self._accepts:
            options["callback_on_step_end"] = stop_if_cancelled
        with self._lock, self._torch.inference_mode():
            if is_cancelled():
                return None
            try:
                return self.pipeline(**options).images[0]
            except Cancelled:
                return None
