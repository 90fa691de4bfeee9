"""Triton glue for tokenization, chat-template rendering and detokenization (logic in triton_openai.models.llm.prompts).

A request carries one of: `text_input` (tokenized as is), `messages` (+ `tools`, rendered
with the chat template first) or `output_ids` (decoded into `text_output`, for /detokenize).
Tokenizing answers `input_ids`, `input_lengths` and the `rendered_prompt` that was
tokenized, plus `token_strs` when `return_token_strs` is set.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_openai import contract as t
from triton_openai.model_settings import PreprocessingParameters
from triton_openai.models.llm import request_inputs
from triton_openai.models.llm.params import InvalidRequest
from triton_openai.models.llm.prompts import PromptTokenizer
from triton_openai.models.python_backend import error_response, input_array, input_getter, input_scalar, model_settings


class TritonPythonModel:
    def initialize(self, args):
        self.prompts = PromptTokenizer(model_settings(args, PreprocessingParameters).model_dir)

    def execute(self, requests):
        return [self._respond(request) for request in requests]

    def _respond(self, request):
        try:
            detokenize = input_array(pb_utils, request, t.OUTPUT_IDS) is not None
            tensors = self._detokenize(request) if detokenize else self._tokenize(request)
        except InvalidRequest as exc:
            return error_response(pb_utils, exc)
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def _tokenize(self, request):
        text, ids = self.prompts.tokenize(request_inputs.prompt(input_getter(pb_utils, request)))
        tensors = [
            pb_utils.Tensor(t.INPUT_IDS, np.array([ids], dtype=np.int32)),
            pb_utils.Tensor(t.INPUT_LENGTHS, np.array([[len(ids)]], dtype=np.int32)),
            _string_tensor(t.RENDERED_PROMPT, [text]),
        ]
        if input_scalar(pb_utils, request, t.RETURN_TOKEN_STRS, False):
            tensors.append(_string_tensor(t.TOKEN_STRS, self.prompts.token_strings(ids)))
        return tensors

    def _detokenize(self, request):
        ids = [int(i) for i in input_array(pb_utils, request, t.OUTPUT_IDS).reshape(-1)]
        return [_string_tensor(t.TEXT_OUTPUT, [self.prompts.decode(ids)])]


def _string_tensor(name, values):
    return pb_utils.Tensor(name, np.array([[v.encode("utf-8") for v in values]], dtype=np.object_))
