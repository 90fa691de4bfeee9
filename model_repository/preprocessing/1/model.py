"""Triton glue for tokenization and chat-template rendering (logic in triton_openai.models.llm.prompts)."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_openai import contract as t
from triton_openai.models.llm.params import InvalidRequest
from triton_openai.models.llm.prompts import PromptTokenizer


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        model_dir = config["parameters"]["model_dir"]["string_value"]
        self.prompts = PromptTokenizer(model_dir)

    def execute(self, requests):
        return [self._respond(request) for request in requests]

    def _respond(self, request):
        try:
            ids = self._encode(request)
        except InvalidRequest as exc:
            message = t.tag_error(t.INVALID_REQUEST_TAG, str(exc))
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor(t.INPUT_IDS, np.array([ids], dtype=np.int32)),
                pb_utils.Tensor(t.INPUT_LENGTHS, np.array([[len(ids)]], dtype=np.int32)),
            ]
        )

    def _encode(self, request):
        messages = _text(request, t.MESSAGES)
        if messages is not None:
            return self.prompts.encode_chat(messages, _text(request, t.TOOLS))
        prompt = _text(request, t.TEXT_INPUT)
        if prompt is None:
            raise InvalidRequest(f"one of {t.TEXT_INPUT} or {t.MESSAGES} is required")
        return self.prompts.encode(prompt)


def _text(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    value = tensor.as_numpy().reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
