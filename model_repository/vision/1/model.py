"""Triton glue for chat with images (logic in triton_openai.models.llm.vision_engine).

Decoupled, as the llm model: `execute` prepares each request (images decoded, template
rendered) and queues it; the engine's thread streams the outputs through the request's
response sender and stops a request whose client went away.
"""

import os

import triton_python_backend_utils as pb_utils

from triton_openai.model_settings import VisionParameters
from triton_openai.models.llm import request_inputs
from triton_openai.models.llm.request import GenerationRequest
from triton_openai.models.llm.token_bytes import TokenBytes
from triton_openai.models.llm.vision_engine import VisionEngine
from triton_openai.models.python_backend import (
    CancelWatch,
    GenerationWriter,
    client_errors,
    input_getter,
    model_settings,
)


class TritonPythonModel:
    def initialize(self, args):
        import torch

        params = model_settings(args, VisionParameters)
        torch.set_num_threads(params.num_threads or os.cpu_count() or 1)
        self.engine = VisionEngine(params.model_dir, params).start()
        self.token_bytes = TokenBytes(self.engine.tokenizer)
        self.generation_defaults = params.generation_defaults
        self.cancels = CancelWatch()

    def execute(self, requests):
        for request in requests:
            self._submit(request)
        return None

    def _submit(self, request):
        sender = request.get_response_sender()
        get = input_getter(pb_utils, request)
        with client_errors(pb_utils, sender):
            params, stream = request_inputs.sampling_params(get, self.generation_defaults)
            prompt = request_inputs.prompt(get, images=True)
            writer = GenerationWriter(pb_utils, sender, stream, self.token_bytes, cancels=self.cancels)
            generation = GenerationRequest(
                request_id=request.request_id(),
                prompt_ids=[],  # the engine's processor makes them
                params=params,
                on_output=writer,
                is_cancelled=writer.is_cancelled,
                max_prompt_tokens=request_inputs.max_prompt_tokens(get),
            )
            self.engine.submit(generation, prompt)

    def finalize(self):
        self.engine.shutdown()
        self.cancels.close()
