"""Triton glue for sentence embeddings (logic in triton_openai.models.embeddings).

All rows of all requests that the dynamic batcher hands over go through one
`embed` call, so concurrent clients share forward passes.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_openai import contract as t
from triton_openai.models.embeddings import EmbeddingInput, EmbeddingModel
from triton_openai.models.llm.params import InvalidRequest
from triton_openai.models.python_backend import error_response, input_array, model_parameters


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(json.loads(args["model_config"]))
        import torch

        device = params["device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = EmbeddingModel(params["model_dir"], device=device, threads=int(params["num_threads"]))

    def execute(self, requests):
        prepared = []  # per request: (ids of its rows, dimensions per row) or an error
        for request in requests:
            try:
                prepared.append(self._prepare(request))
            except InvalidRequest as exc:
                prepared.append(exc)
        rows = [ids for item in prepared if not isinstance(item, Exception) for ids in item[0]]
        dims = [d for item in prepared if not isinstance(item, Exception) for d in item[1]]
        try:
            vectors = self.model.embed(rows, dims) if rows else None
        except Exception as exc:  # noqa: BLE001 - every request gets an answer
            return [error_response(pb_utils, exc) for _ in requests]
        responses, start = [], 0
        for item in prepared:
            if isinstance(item, Exception):
                responses.append(error_response(pb_utils, item))
                continue
            ids, _ = item
            block = vectors[start : start + len(ids)]
            start += len(ids)
            width = max(dims[start - len(ids) : start] or [0]) or self.model.dimension
            counts = np.array([[len(r)] for r in ids], dtype=np.int32)
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor(t.EMBEDDING, np.ascontiguousarray(block[:, :width])),
                        pb_utils.Tensor(t.NUM_INPUT_TOKENS, counts),
                    ]
                )
            )
        return responses

    def _prepare(self, request):
        texts = input_array(pb_utils, request, t.TEXT_INPUT)
        ids = input_array(pb_utils, request, t.INPUT_IDS)
        if texts is None and ids is None:
            raise InvalidRequest(f"one of {t.TEXT_INPUT} or {t.INPUT_IDS} is required")
        count = len(texts) if texts is not None else len(ids)
        truncate = _per_row(input_array(pb_utils, request, t.TRUNCATE_PROMPT_TOKENS), count)
        dims = _per_row(input_array(pb_utils, request, t.DIMENSIONS), count)
        lengths = _per_row(input_array(pb_utils, request, t.INPUT_LENGTHS), count, default=-1)
        rows = []
        for i in range(count):
            if texts is not None:
                row = EmbeddingInput(text=texts[i].reshape(-1)[0].decode("utf-8"))
            else:
                length = lengths[i] if lengths[i] >= 0 else ids.shape[1]
                row = EmbeddingInput(token_ids=ids[i, :length].tolist())
            row.truncate, row.dimensions = truncate[i], dims[i]
            self.model.check_dimensions(row.dimensions)
            rows.append(self.model.token_ids(row, i))
        return rows, dims


def _per_row(array, count, default=0):
    if array is None:
        return [default] * count
    values = [int(v) for v in array.reshape(-1)]
    return values if len(values) == count else [values[0]] * count
