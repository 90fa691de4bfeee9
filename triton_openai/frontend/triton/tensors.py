"""Jobs packed into Triton inputs, and the outputs read back: the only place where the
frontend meets tensor names. Every input's type comes from the contract's table
(triton_openai.contract.TENSOR_TYPES)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from tritonclient.grpc import InferInput, InferResult
from tritonclient.utils import deserialize_bytes_tensor, triton_to_np_dtype

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


class _Outputs:
    """A response's output tensors, read in one pass (tritonclient's `as_numpy` scans every output
    for each name it is asked, and makes an array of each scalar). A tensor may be absent: an older
    model repository, or another engine, may not send it."""

    def __init__(self, result: InferResult) -> None:
        response = result.get_response()
        raw = response.raw_output_contents
        # each output's message and raw contents; its datatype and shape are read only for arrays
        self._tensors = {output.name: (output, raw[i]) for i, output in enumerate(response.outputs) if i < len(raw)}

    def array(self, name: str) -> np.ndarray | None:
        if name not in self._tensors:
            return None
        output, raw = self._tensors[name]
        shape = list(output.shape)
        if output.datatype == "BYTES":
            return deserialize_bytes_tensor(raw).reshape(shape)
        return np.frombuffer(raw, dtype=triton_to_np_dtype(output.datatype)).reshape(shape)

    def data(self, name: str) -> bytes | None:
        """The first element of a BYTES tensor (each element is its 4-byte length, then its bytes)."""
        if name not in self._tensors:
            return None
        raw = self._tensors[name][1]
        return raw[4 : 4 + int.from_bytes(raw[:4], "little")] if len(raw) >= 4 else None

    def text(self, name: str) -> str | None:
        data = self.data(name)
        return None if data is None else data.decode("utf-8")

    def integer(self, name: str, default: int) -> int:
        """The first element of an INT32 tensor (`default` if absent)."""
        if name not in self._tensors:
            return default
        raw = self._tensors[name][1]
        return int.from_bytes(raw[:4], "little", signed=True) if len(raw) >= 4 else default

    def integers(self, name: str) -> list[int]:
        array = self.array(name)
        return [] if array is None else array.reshape(-1).tolist()  # tolist: fast on the event loop


def unpack_embeddings(result: InferResult) -> tuple[np.ndarray, list[int]]:
    outputs = _Outputs(result)
    vectors = outputs.array(t.EMBEDDING)
    assert vectors is not None
    return vectors, outputs.integers(t.NUM_INPUT_TOKENS)


def unpack_event(result: InferResult) -> dict[str, Any] | None:
    """A transcription event, or None for an empty (final-flag) response."""
    event = _Outputs(result).text(t.TRANSCRIPTION_EVENT)
    return None if event is None else json.loads(event)


def unpack_audio(result: InferResult) -> AudioChunk | None:
    outputs = _Outputs(result)
    data = outputs.data(t.AUDIO_CHUNK)
    if data is None:
        return None
    seconds = outputs.array(t.AUDIO_SECONDS)
    assert seconds is not None
    return AudioChunk(data=bytes(data), seconds=float(seconds.reshape(-1)[0]))


def unpack_image(result: InferResult) -> bytes | None:
    data = _Outputs(result).data(t.IMAGE)
    return None if data is None else bytes(data)


def unpack_tokenized(result: InferResult) -> TokenizedPrompt:
    """The preprocessing model's answer; `rendered_prompt` and `token_strs` may be absent (an
    older repository, or not asked for)."""
    outputs = _Outputs(result)
    strs = outputs.array(t.TOKEN_STRS)
    return TokenizedPrompt(
        token_ids=outputs.integers(t.INPUT_IDS),
        text=outputs.text(t.RENDERED_PROMPT) or "",
        token_strs=[] if strs is None else [s.decode("utf-8") for s in strs.reshape(-1)],
    )


def unpack_text(result: InferResult) -> str:
    text = _Outputs(result).text(t.TEXT_OUTPUT)
    assert text is not None
    return text


def unpack_chunk(result: InferResult) -> GenerationChunk | None:
    """The generation output of one response, or None for an empty (final-flag) response."""
    outputs = _Outputs(result)
    text = outputs.text(t.TEXT_OUTPUT)
    if text is None:
        return None
    logprobs = outputs.text(t.LOGPROBS)
    stop_token = outputs.integer(t.STOP_TOKEN_ID, -1)  # the stop token id that ended it (vLLM's stop_reason)
    return GenerationChunk(
        text=text,
        logprobs=json.loads(logprobs) if logprobs else [],
        token_ids=outputs.integers(t.OUTPUT_IDS),
        finish_reason=outputs.text(t.FINISH_REASON) or None,
        num_input_tokens=outputs.integer(t.NUM_INPUT_TOKENS, 0),
        num_output_tokens=outputs.integer(t.NUM_OUTPUT_TOKENS, 0),
        num_cached_tokens=outputs.integer(t.NUM_CACHED_TOKENS, 0),
        stop_reason=outputs.text(t.STOP_REASON) or (stop_token if stop_token >= 0 else None),
        rendered_prompt=outputs.text(t.RENDERED_PROMPT) or None,
    )
