"""Triton glue for image generation (logic in triton_openai.models.image_generation)."""

import json
import os

import triton_python_backend_utils as pb_utils

from triton_openai import contract as t
from triton_openai.models.image_generation import ImageGenerator, ImageRequest
from triton_openai.models.python_backend import DecoupledPool, bytes_tensor, input_scalar, model_parameters


class TritonPythonModel:
    def initialize(self, args):
        import torch

        params = model_parameters(json.loads(args["model_config"]))
        torch.set_num_threads(int(params["num_threads"]) or os.cpu_count() or 1)
        self.generator = ImageGenerator(
            params["model_dir"], params["device"], params["dtype"], default_steps=int(params["default_steps"])
        )
        self.pool = DecoupledPool(pb_utils, 1)  # the pipeline runs one call at a time

    def execute(self, requests):
        for request in requests:
            self.pool.submit(request, self._generate)
        return None

    def _generate(self, request):
        guidance = input_scalar(pb_utils, request, t.GUIDANCE_SCALE)
        seed = input_scalar(pb_utils, request, t.SEED)
        image_request = ImageRequest(
            prompt=input_scalar(pb_utils, request, t.TEXT_INPUT, ""),
            width=int(input_scalar(pb_utils, request, t.WIDTH)),
            height=int(input_scalar(pb_utils, request, t.HEIGHT)),
            n=int(input_scalar(pb_utils, request, t.NUM_IMAGES, 1)),
            steps=int(input_scalar(pb_utils, request, t.NUM_INFERENCE_STEPS, 0)),
            guidance_scale=None if guidance is None else float(guidance),
            seed=None if seed is None else int(seed),
            negative_prompt=input_scalar(pb_utils, request, t.NEGATIVE_PROMPT, ""),
            output_format=input_scalar(pb_utils, request, t.OUTPUT_FORMAT, "png"),
        )
        sender = request.get_response_sender()
        for data in self.generator.generate(image_request, sender.is_cancelled):
            yield [bytes_tensor(pb_utils, t.IMAGE, data)]

    def finalize(self):
        self.pool.shutdown()
