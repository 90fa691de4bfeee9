"""Packing request values into Triton inputs and reading the outputs back."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from tritonclient.grpc import InferInput, InferResult

from triton_openai import contract as t
from triton_openai.frontend.triton.base import AudioChunk, GenerationChunk, TokenizedPrompt

_TRITON_DTYPES = {"int32": "INT32", "uint64": "UINT64", "float32": "FP32", "bool": "BOOL", "bytes": "BYTES"}
_DTYPES = {
    **t.PARAMETER_DTYPES,
    t.TEXT_INPUT: "bytes",
    t.MESSAGES: "bytes",
    t.TOOLS: "bytes",
    t.IMAGES: "bytes",
    t.INPUT_IDS: "int32",
    t.OUTPUT_IDS: "int32",
    t.ADD_SPECIAL_TOKENS: "bool",
    t.ADD_GENERATION_PROMPT: "bool",
    t.CONTINUE_FINAL_MESSAGE: "bool",
    t.CHAT_TEMPLATE_KWARGS: "bytes",
    t.RETURN_TOKEN_STRS: "bool",
}


def _array(name: str, value: Any) -> np.ndarray:
    dtype = _DTYPES[name]
    values = value if isinstance(value, (list, tuple)) else [value]
    if dtype == "bytes":
        return np.array([[v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values]], dtype=np.object_)
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


_UNBATCHED_DTYPES = {
    t.AUDIO: "bytes",
    t.TASK: "bytes",
    t.LANGUAGE: "bytes",
    t.PROMPT: "bytes",
    t.TEMPERATURE: "float32",
    t.WORD_TIMESTAMPS: "bool",
    t.TEXT_INPUT: "bytes",
    t.VOICE: "bytes",
    t.RESPONSE_FORMAT: "bytes",
    t.SPEED: "float32",
    t.NEGATIVE_PROMPT: "bytes",
    t.NUM_IMAGES: "int32",
    t.WIDTH: "int32",
    t.HEIGHT: "int32",
    t.NUM_INFERENCE_STEPS: "int32",
    t.GUIDANCE_SCALE: "float32",
    t.SEED: "uint64",
    t.OUTPUT_FORMAT: "bytes",
}


def pack_unbatched(values: dict[str, Any]) -> list[InferInput]:
    """Shape-[1] inputs for a model without a batch dimension (whisper, tts, image); None is left out."""
    inputs = []
    for name, value in values.items():
        if value is None:
            continue
        dtype = _UNBATCHED_DTYPES[name]
        if dtype == "bytes":
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            array = np.array([data], dtype=np.object_)
        else:
            array = np.array([value], dtype=dtype)
        tensor = InferInput(name, [1], _TRITON_DTYPES[dtype])
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def pack_embedding_inputs(rows: list[str] | list[list[int]], parameters: dict[str, Any]) -> list[InferInput]:
    """One batch row per input: texts as [n, 1] strings, token ids padded to [n, longest]."""
    arrays: dict[str, np.ndarray] = {}
    if rows and isinstance(rows[0], str):
        arrays[t.TEXT_INPUT] = np.array([[r.encode("utf-8")] for r in rows], dtype=np.object_)
    else:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int32)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        arrays[t.INPUT_IDS] = ids
        arrays[t.INPUT_LENGTHS] = np.array([[len(r)] for r in rows], dtype=np.int32)
    for name, value in parameters.items():
        if value is not None:
            arrays[name] = np.full((len(rows), 1), value, dtype=np.int32)
    inputs = []
    for name, array in arrays.items():
        tensor = InferInput(name, list(array.shape), "BYTES" if array.dtype == np.object_ else "INT32")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def unpack_embeddings(result: InferResult) -> tuple[np.ndarray, list[int]]:
    vectors = result.as_numpy(t.EMBEDDING)
    counts = result.as_numpy(t.NUM_INPUT_TOKENS)
    assert vectors is not None and counts is not None
    return vectors, [int(c) for c in counts.reshape(-1)]


def unpack_event(result: InferResult) -> dict[str, Any] | None:
    """A transcription event, or None for an empty (final-flag) response."""
    event = result.as_numpy(t.TRANSCRIPTION_EVENT)
    return None if event is None else json.loads(_first(event).decode("utf-8"))


def unpack_audio(result: InferResult) -> AudioChunk | None:
    data = result.as_numpy(t.AUDIO_CHUNK)
    if data is None:
        return None
    return AudioChunk(data=bytes(_first(data)), seconds=float(_first(result.as_numpy(t.AUDIO_SECONDS))))


def unpack_image(result: InferResult) -> bytes | None:
    data = result.as_numpy(t.IMAGE)
    return None if data is None else bytes(_first(data))


def unpack_tokenized(result: InferResult) -> TokenizedPrompt:
    """The preprocessing model's answer; `rendered_prompt` and `token_strs` may be absent (an
    older repository, or not asked for)."""
    ids = result.as_numpy(t.INPUT_IDS)
    rendered = result.as_numpy(t.RENDERED_PROMPT)
    strs = result.as_numpy(t.TOKEN_STRS)
    return TokenizedPrompt(
        token_ids=[] if ids is None else ids.reshape(-1).tolist(),  # tolist: fast on the event loop
        text="" if rendered is None else _first(rendered).decode("utf-8"),
        token_strs=[] if strs is None else [s.decode("utf-8") for s in strs.reshape(-1)],
    )


def unpack_text(result: InferResult) -> str:
    return _first(result.as_numpy(t.TEXT_OUTPUT)).decode("utf-8")


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
        token_ids=[] if ids is None else ids.reshape(-1).tolist(),  # tolist: fast on the event loop
        finish_reason=reason or None,
        num_input_tokens=int(_first(result.as_numpy(t.NUM_INPUT_TOKENS))),
        num_output_tokens=int(_first(result.as_numpy(t.NUM_OUTPUT_TOKENS))),
        num_cached_tokens=_optional_int(result, t.NUM_CACHED_TOKENS),
        stop_reason=_optional_text(result, t.STOP_REASON),
    )


def _optional_int(result: InferResult, name: str) -> int:
    """An output an older model repository (or another engine) may not send: 0 then."""
    value = result.as_numpy(name)
    return 0 if value is None else int(_first(value))


def _optional_text(result: InferResult, name: str) -> str | None:
    """A text output an older model repository may not send, or sends empty: None then."""
    value = result.as_numpy(name)
    return (_first(value).decode("utf-8") or None) if value is not None else None


def _first(array: np.ndarray | None) -> Any:
    assert array is not None
    return array.reshape(-1)[0]
