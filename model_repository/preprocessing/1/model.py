"""Triton glue for tokenization, chat-template rendering and detokenization (logic in triton_openai.models.llm.prompts).

A request carries one of: `text_input` (tokenized as is), `messages` (+ `tools`, rendered
with the chat template first) or `output_ids` (decoded into `text_output`, for /detokenize).
Tokenizing answers `input_ids`, `input_lengths` and the `rendered_prompt` that was
tokenized, plus `token_strs` when `return_token_strs` is set.
"""

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
            detokenize = _array(request, t.OUTPUT_IDS) is not None
            tensors = self._detokenize(request) if detokenize else self._tokenize(request)
        except InvalidRequest as exc:
            message = t.tag_error(t.INVALID_REQUEST_TAG, str(exc))
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def _tokenize(self, request):
        text, ids = self._encode(request)
        tensors = [
            pb_utils.Tensor(t.INPUT_IDS, np.array([ids], dtype=np.int32)),
            pb_utils.Tensor(t.INPUT_LENGTHS, np.array([[len(ids)]], dtype=np.int32)),
            _string_tensor(t.RENDERED_PROMPT, [text]),
        ]
        if _flag(request, t.RETURN_TOKEN_STRS, False):
            tensors.append(_string_tensor(t.TOKEN_STRS, self.prompts.token_strings(ids)))
        return tensors

    def _detokenize(self, request):
        ids = [int(i) for i in _array(request, t.OUTPUT_IDS).reshape(-1)]
        return [_string_tensor(t.TEXT_OUTPUT, [self.prompts.decode(ids)])]

    def _encode(self, request):
        """(the text tokenized, its ids)."""
        messages = _text(request, t.MESSAGES)
        if messages is not None:
            text = self.prompts.render_chat(
                messages,
                _text(request, t.TOOLS),
                add_generation_prompt=_flag(request, t.ADD_GENERATION_PROMPT, True),
                continue_final_message=_flag(request, t.CONTINUE_FINAL_MESSAGE, False),
                template_kwargs_json=_text(request, t.CHAT_TEMPLATE_KWARGS),
            )
            # The template writes the special tokens itself (BOS included, where the model has one).
            return text, self.prompts.encode(text, add_special_tokens=_flag(request, t.ADD_SPECIAL_TOKENS, False))
        prompt = _text(request, t.TEXT_INPUT)
        if prompt is None:
            raise InvalidRequest(f"one of {t.TEXT_INPUT}, {t.MESSAGES} or {t.OUTPUT_IDS} is required")
        return prompt, self.prompts.encode(prompt, add_special_tokens=_flag(request, t.ADD_SPECIAL_TOKENS, True))


def _array(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def _text(request, name):
    array = _array(request, name)
    if array is None:
        return None
    value = array.reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _flag(request, name, default):
    array = _array(request, name)
    return default if array is None else bool(array.reshape(-1)[0])


def _string_tensor(name, values):
    return pb_utils.Tensor(name, np.array([[v.encode("utf-8") for v in values]], dtype=np.object_))
