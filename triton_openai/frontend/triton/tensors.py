"""Jobs packed into Triton inputs, and the outputs read back: the only place where the
frontend meets tensor names. Every input's type comes from the contract's table
(triton_openai.contract.TENSOR_TYPES)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from tritonclient.grpc import InferInput, InferResult

from triton_openai import contract as t
from triton_openai.frontend.triton.base import AudioChunk, GenerationChunk, TokenizedPrompt
from triton_openai.frontend.triton.jobs import (
    ChatPrompt,
    EmbeddingJob,
    GenerationJob,
    ImageJob,
    LoraAdapter,
    Prompt,
    Sampling,
    SpeechJob,
    TextPrompt,
    TokenizeJob,
    TranscriptionJob,
)

_NUMPY = {t.INT32: np.int32, t.UINT64: np.uint64, t.FP32: np.float32, t.BOOL: np.bool_, t.STRING: np.object_}


def _array(name: str, value: Any) -> np.ndarray:
    """`value` (one, or a list) as the 1-d array of `name`'s type in the contract table."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    kind = t.TENSOR_TYPES[name]
    if kind == t.STRING:
        return np.array([v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values], dtype=np.object_)
    return np.array(values, dtype=_NUMPY[kind])


def _tensor(name: str, array: np.ndarray) -> InferInput:
    tensor = InferInput(name, list(array.shape), "BYTES" if t.TENSOR_TYPES[name] == t.STRING else t.TENSOR_TYPES[name])
    tensor.set_data_from_numpy(array)
    return tensor


def _pack(values: dict[str, Any], *, batched: bool = True) -> list[InferInput]:
    """One input per value that is not None: shape [1, n] with a batch dimension of 1, or [n]
    for a model without batching (whisper, tts, image)."""
    inputs = []
    for name, value in values.items():
        if value is not None:
            array = _array(name, value)
            inputs.append(_tensor(name, array[np.newaxis] if batched else array))
    return inputs


def _json(value: Any) -> str | None:
    return json.dumps(value) if value else None


def _prompt(prompt: Prompt) -> dict[str, Any]:
    if isinstance(prompt, TextPrompt):
        return {t.TEXT_INPUT: prompt.text}
    if isinstance(prompt, ChatPrompt):
        return {
            t.MESSAGES: json.dumps(list(prompt.messages), ensure_ascii=False),
            t.TOOLS: _json(list(prompt.tools or ())),
            t.CHAT_TEMPLATE_KWARGS: _json(dict(prompt.template_kwargs or {})),
            t.IMAGES: list(prompt.images) or None,
        }
    return {t.INPUT_IDS: prompt} if prompt else {}  # token ids (none: the llm model says it needs them)


def _sampling(sampling: Sampling) -> dict[str, Any]:
    """The llm model's sampling inputs: the one place where sampling parameters meet tensor
    names. A default is not sent, so the model's own default applies."""
    guide = sampling.guide
    return {
        t.MAX_TOKENS: sampling.max_tokens,
        t.TEMPERATURE: sampling.temperature,
        t.TOP_P: sampling.top_p,
        t.TOP_K: sampling.top_k,
        t.MIN_P: sampling.min_p,
        t.FREQUENCY_PENALTY: sampling.frequency_penalty,
        t.PRESENCE_PENALTY: sampling.presence_penalty,
        t.REPETITION_PENALTY: sampling.repetition_penalty,
        t.MIN_TOKENS: sampling.min_tokens or None,
        t.IGNORE_EOS: sampling.ignore_eos or None,
        t.STOP_WORDS: list(sampling.stop) or None,
        t.STOP_TOKEN_IDS: list(sampling.stop_token_ids) or None,
        t.INCLUDE_STOP_STR_IN_OUTPUT: sampling.include_stop_str_in_output or None,
        t.SKIP_SPECIAL_TOKENS: None if sampling.skip_special_tokens else False,
        t.RETURN_LOG_PROBS: True if sampling.logprobs is not None else None,
        t.TOP_LOGPROBS: sampling.logprobs or None,
        t.LOGIT_BIAS_TOKEN_IDS: list(sampling.logit_bias) or None,
        t.LOGIT_BIAS_VALUES: list(sampling.logit_bias.values()) or None,
        t.SEED: sampling.seed,
        t.GUIDE_TYPE: guide.type if guide is not None else None,
        t.GUIDE: guide.text if guide is not None else None,
    }


def _lora(adapter: LoraAdapter | None) -> dict[str, Any]:
    return {} if adapter is None else {t.LORA_NAME: adapter.name, t.LORA_PATH: adapter.path}


def generation_inputs(job: GenerationJob) -> list[InferInput]:
    """The llm model's inputs for one choice, streamed."""
    limit = {t.MAX_PROMPT_TOKENS: job.max_prompt_tokens}
    return _pack({**_prompt(job.prompt), **_sampling(job.sampling), **_lora(job.lora), **limit, t.STREAM: True})


def lora_unload_inputs(name: str) -> list[InferInput]:
    return _pack({t.INPUT_IDS: [0], t.LORA_NAME: name, t.LORA_UNLOAD: True})  # input_ids: required


def tokenize_inputs(job: TokenizeJob) -> list[InferInput]:
    """The preprocessing model's inputs (a tokenizer takes no images: they go to models that
    tokenize themselves)."""
    prompt = {name: value for name, value in _prompt(job.prompt).items() if name != t.IMAGES}
    return _pack(
        {
            **prompt,
            t.ADD_SPECIAL_TOKENS: job.add_special_tokens,
            t.ADD_GENERATION_PROMPT: None if job.add_generation_prompt else False,
            t.CONTINUE_FINAL_MESSAGE: job.continue_final_message or None,
            t.RETURN_TOKEN_STRS: job.return_token_strs or None,
        }
    )


def detokenize_inputs(token_ids: list[int]) -> list[InferInput]:
    return _pack({t.OUTPUT_IDS: token_ids})


# The models without batching (whisper, tts, image): the tensor each field of their job goes to.
_UNBATCHED_FIELDS: dict[type, dict[str, str]] = {
    TranscriptionJob: {
        "audio": t.AUDIO,
        "task": t.TASK,
        "language": t.LANGUAGE,
        "prompt": t.PROMPT,
        "temperature": t.TEMPERATURE,
        "word_timestamps": t.WORD_TIMESTAMPS,
    },
    SpeechJob: {"text": t.TEXT_INPUT, "voice": t.VOICE, "response_format": t.RESPONSE_FORMAT, "speed": t.SPEED},
    ImageJob: {
        "prompt": t.TEXT_INPUT,
        "negative_prompt": t.NEGATIVE_PROMPT,
        "n": t.NUM_IMAGES,
        "width": t.WIDTH,
        "height": t.HEIGHT,
        "steps": t.NUM_INFERENCE_STEPS,
        "guidance_scale": t.GUIDANCE_SCALE,
        "seed": t.SEED,
        "output_format": t.OUTPUT_FORMAT,
    },
}


def unbatched_inputs(job: TranscriptionJob | SpeechJob | ImageJob) -> list[InferInput]:
    """A transcription, speech or image job's inputs: each field to its tensor (None: not sent)."""
    fields = _UNBATCHED_FIELDS[type(job)]
    return _pack({name: getattr(job, field) for field, name in fields.items()}, batched=False)


def embedding_inputs(job: EmbeddingJob) -> list[InferInput]:
    """One batch row per input: texts as [n, 1] strings, token ids padded to [n, longest]."""
    rows = job.inputs
    arrays: dict[str, np.ndarray] = {}
    if rows and isinstance(rows[0], str):
        arrays[t.TEXT_INPUT] = _array(t.TEXT_INPUT, rows)[:, np.newaxis]
    else:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int32)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        arrays[t.INPUT_IDS] = ids
        arrays[t.INPUT_LENGTHS] = _array(t.INPUT_LENGTHS, [len(r) for r in rows])[:, np.newaxis]
    for name, value in ((t.TRUNCATE_PROMPT_TOKENS, job.truncate_prompt_tokens), (t.DIMENSIONS, job.dimensions)):
        if value is not None:
            arrays[name] = np.repeat(_array(name, value), len(rows))[:, np.newaxis]
    return [_tensor(name, array) for name, array in arrays.items()]


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
        num_cached_tokens=_optional_int(result, t.NUM_CACHED_TOKENS, 0),
        stop_reason=_optional_text(result, t.STOP_REASON) or _stop_token(result),
        rendered_prompt=_optional_text(result, t.RENDERED_PROMPT),
    )


def _optional_int(result: InferResult, name: str, default: int) -> int:
    """An output an older model repository (or another engine) may not send: `default` then."""
    value = result.as_numpy(name)
    return default if value is None else int(_first(value))


def _stop_token(result: InferResult) -> int | None:
    """The stop token id that ended the output, if one did (vLLM's stop_reason for it)."""
    token = _optional_int(result, t.STOP_TOKEN_ID, -1)
    return token if token >= 0 else None


def _optional_text(result: InferResult, name: str) -> str | None:
    """A text output an older model repository may not send, or sends empty: None then."""
    value = result.as_numpy(name)
    return (_first(value).decode("utf-8") or None) if value is not None else None


def _first(array: np.ndarray | None) -> Any:
    assert array is not None
    return array.reshape(-1)[0]
