"""Packing request values into Triton inputs and reading the outputs back."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from tritonclient.grpc import InferInput, InferResult

from engine import tensors as t
from frontend.triton.base import GenerationChunk

_TRITON_DTYPES = {"int32": "INT32", "uint64": "UINT64", "float32": "FP32", "bool": "BOOL", "bytes": "BYTES"}
_DTYPES = {**t.PARAMETER_DTYPES, t.TEXT_INPUT: "bytes", t.MESSAGES: "bytes", t.TOOLS: "bytes", t.INPUT_IDS: "int32"}


def _array(name: str, value: Any) -> np.ndarray:
    dtype = _DTYPES[name]
    values = value if isinstance(value, (list, tuple)) else [value]
    if dtype == "bytes":
        return np.array([[str(v).encode("utf-8") for v in values]], dtype=np.object_)
    return np.array([values], dtype=dtype)


def pack_inputs(values: dict[str, Any]) -> list[InferInput]:
    """One [1, n] input per value that is not None (a leading batch dimension of 1)."""
    inputs = []
    for name, value in values.items():
        if value is None:
            continue
        array = _array(name, value)
        tensor = InferInput(name, list(array.shape), _TRITON_DTYPES[_DTYPES[name]])
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def unpack_ids(result: InferResult) -> list[int]:
    ids = result.as_numpy(t.INPUT_IDS)
    return [] if ids is None else [int(i) for i in ids.reshape(-1)]


def unpack_chunk(result: InferResult) -> GenerationChunk | None:
    """The generation output of one response, or None for an empty (final-flag) response."""
    text = result.as_numpy(t.TEXT_OUTPUT)
    if text is None:
        return None
    ids = result.as_numpy(t.OUTPUT_IDS)
    finish = result.as_numpy(t.FINISH_REASON)
    reason = _first(finish).decode() if finish is not None else ""
    logprobs = result.as_numpy(t.LOGPROBS)
    logprobs_json = _first(logprobs).decode("utf-8") if logprobs is not None else ""
    return GenerationChunk(
        text=_first(text).decode("utf-8"),
        logprobs=json.loads(logprobs_json) if logprobs_json else [],
        token_ids=[] if ids is None else [int(i) for i in ids.reshape(-1)],
        finish_reason=reason or None,
        num_input_tokens=int(_first(result.as_numpy(t.NUM_INPUT_TOKENS))),
        num_output_tokens=int(_first(result.as_numpy(t.NUM_OUTPUT_TOKENS))),
    )


def _first(array: np.ndarray | None) -> Any:
    assert array is not None
    return array.reshape(-1)[0]
