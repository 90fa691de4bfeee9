"""The TensorRT-LLM engine: the torch engine's interface over TensorRT-LLM's LLM API.

The `llm` model's glue hands either engine the same GenerationRequest and gets the same
GenerationOutputs back, so the Triton tensors and the frontend do not change. TensorRT-LLM
does the in-flight batching, the paged KV cache, stop strings and detokenization; this
module maps our parameters onto its `SamplingParams` (greedy as top_k 1, guides onto
`GuidedDecodingParams`, LoRA onto `LoRARequest`), turns its cumulative outputs into deltas,
and aborts a request whose client went away.

The mapping functions are pure (unit-tested on CPU); `tensorrt_llm` is imported only when
an engine is created, on a machine that has it (the NGC `-trtllm-python-py3` images).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from triton_openai.models.llm.engine_config import EngineConfig, EngineStats
from triton_openai.models.llm.guided import GUIDE_FORMATS
from triton_openai.models.llm.logprobs import TokenLogprob
from triton_openai.models.llm.params import ContextLengthExceeded, EngineOverloaded, InvalidRequest, SamplingParams
from triton_openai.models.llm.request import (
    FINISH_CANCELLED,
    FINISH_ERROR,
    FINISH_LENGTH,
    GenerationOutput,
    GenerationRequest,
)

logger = logging.getLogger(__name__)

# Our guide formats (triton_openai.models.llm.guided.GUIDE_FORMATS) -> the GuidedDecodingParams
# field that takes them (a choice becomes a regex; Lark grammars are not supported there).
_FIELDS = {"json_schema": "json", "regex": "regex", "choice": "regex", "grammar": "grammar"}
_ANY_OBJECT_TYPES = ("json", "json_object")  # without a schema: any JSON object


def sampling_kwargs(params: SamplingParams, prompt_len: int, max_model_len: int) -> dict[str, Any]:
    """Keyword arguments of tensorrt_llm.SamplingParams for `params`."""
    room = max_model_len - prompt_len
    if room < 1 or (params.max_tokens is not None and params.max_tokens > room):
        raise ContextLengthExceeded(
            f"This model's maximum context length is {max_model_len} tokens; the prompt has {prompt_len} "
            f"and {params.max_tokens or 1} more were asked for."
        )
    kwargs: dict[str, Any] = {
        "max_tokens": params.output_limit(room),
        "min_tokens": params.min_tokens or None,
        "seed": params.seed,
        "frequency_penalty": params.frequency_penalty or None,
        "presence_penalty": params.presence_penalty or None,
        "repetition_penalty": params.repetition_penalty if params.repetition_penalty != 1.0 else None,
        "ignore_eos": params.ignore_eos,
        "stop": list(params.stop) or None,
        "stop_token_ids": list(params.stop_token_ids) or None,
        "include_stop_str_in_output": params.include_stop_str_in_output,
        "skip_special_tokens": params.skip_special_tokens,
        # TensorRT-LLM returns nothing for logprobs=0; ask for one and keep the chosen token only
        "logprobs": max(params.logprobs, 1) if params.logprobs is not None else None,
        "detokenize": True,
    }
    if params.greedy:
        kwargs["top_k"] = 1  # TensorRT-LLM's greedy decoding; temperature 0 is not a valid value there
    else:
        kwargs.update(
            temperature=params.temperature,
            # Always sent: with neither top_k nor top_p set TensorRT-LLM decodes greedily
            # (SamplingParams._greedy_decoding), whatever the temperature.
            top_p=params.top_p,
            top_k=params.top_k if params.top_k > 0 else None,
            min_p=params.min_p or None,
        )
    return {key: value for key, value in kwargs.items() if value is not None}


def embedding_bias(logit_bias: dict[int, float], vocab_size: int) -> list[float] | None:
    """OpenAI's logit_bias as TensorRT-LLM's `embedding_bias`: one value per vocabulary entry,
    added to the logits before sampling (None without a bias)."""
    if not logit_bias:
        return None
    dense = [0.0] * vocab_size
    for token_id, bias in logit_bias.items():
        dense[token_id] = bias
    return dense


def guided_kwargs(guide_type: str, guide: str) -> dict[str, Any] | None:
    """Keyword arguments of tensorrt_llm's GuidedDecodingParams, or None without a guide."""
    if not guide_type:
        return None
    field = _FIELDS.get(GUIDE_FORMATS.get(guide_type, ""))
    if field is None:
        raise InvalidRequest(f"guided decoding type {guide_type!r} is not supported by the TensorRT-LLM engine")
    if guide_type in _ANY_OBJECT_TYPES and not guide.strip():
        return {"json_object": True}
    if guide_type == "choice":
        try:
            choices = json.loads(guide)
        except ValueError:
            raise InvalidRequest("guided choice must be a JSON list of strings") from None
        return {"regex": "(" + "|".join(re.escape(str(c)) for c in choices) + ")"}
    return {field: guide}


def tensorrt_engine_llm() -> Any:
    """TensorRT-LLM's LLM class for TensorRT engines. Since 1.0 `tensorrt_llm.LLM` is the
    PyTorch backend, which builds no engine and refuses `build_config`; the engine one moved
    to `tensorrt_llm._tensorrt_engine`. Older releases have only `tensorrt_llm.LLM`."""
    try:
        from tensorrt_llm._tensorrt_engine import LLM
    except ImportError:
        from tensorrt_llm import LLM
    return LLM


class OutputDeltas:
    """TensorRT-LLM's outputs are cumulative (all text and tokens so far); ours are the new part."""

    def __init__(self, num_prompt_tokens: int, top_logprobs: int = 0) -> None:
        self.num_prompt_tokens = num_prompt_tokens
        self.top_logprobs = top_logprobs  # alternatives kept per token (TensorRT-LLM may send more)
        self._text = 0
        self._tokens = 0

    def step(self, output: Any, finished: bool) -> GenerationOutput:
        """`output`: a tensorrt_llm CompletionOutput (text, token_ids, logprobs, finish_reason, stop_reason)."""
        text, ids = output.text or "", list(output.token_ids or [])
        new_text, new_ids = text[self._text :], ids[self._tokens :]
        new_logprobs = (
            list(_logprobs(output.logprobs, ids, self.top_logprobs))[self._tokens :] if output.logprobs else []
        )
        self._text, self._tokens = len(text), len(ids)
        reason = output.finish_reason if finished else None
        return GenerationOutput(
            text=new_text,
            token_ids=new_ids,
            num_prompt_tokens=self.num_prompt_tokens,
            num_output_tokens=len(ids),
            finish_reason=(reason or FINISH_LENGTH) if finished else None,
            stop_reason=output.stop_reason if finished else None,
            logprobs=new_logprobs,
        )


def _logprobs(entries: Iterable[Any], ids: list[int], top_k: int) -> Iterable[TokenLogprob]:
    """TensorRT-LLM gives, per token, {token id: Logprob(logprob, rank)} for its top-k and the
    chosen token (which may be outside them); we keep the chosen one and the `top_k` likeliest."""
    for token_id, entry in zip(ids, entries, strict=False):
        if isinstance(entry, dict):
            ranked = sorted(entry.items(), key=lambda item: -_value(item[1]))
            chosen = _value(entry[token_id]) if token_id in entry else _value(ranked[0][1])
            yield TokenLogprob(token_id, chosen, tuple((i, _value(v)) for i, v in ranked[:top_k]))
        else:
            yield TokenLogprob(token_id, float(entry), ())


def _value(logprob: Any) -> float:
    return float(getattr(logprob, "logprob", logprob))


@dataclass
class _Adapter:
    name: str
    path: str
    int_id: int


class _LoRAs:
    """Adapter names -> TensorRT-LLM LoRARequests (it caches the weights by their int id)."""

    def __init__(self) -> None:
        self._by_name: dict[str, _Adapter] = {}
        self._next = 1

    def request(self, name: str, path: str, lora_request_cls: Any) -> Any:
        adapter = self._by_name.get(name)
        if adapter is None or adapter.path != path:
            adapter = self._by_name[name] = _Adapter(name, path, self._next)
            self._next += 1
        return lora_request_cls(adapter.name, adapter.int_id, adapter.path)

    def unload(self, name: str) -> bool:
        return self._by_name.pop(name, None) is not None


class TensorRTLLMEngine:
    """Serves GenerationRequests with TensorRT-LLM; thread-safe `submit`, as TorchEngine."""

    def __init__(
        self,
        engine_dir: str,
        tokenizer_dir: str,
        max_model_len: int,
        config: EngineConfig,
        stats_listener: Any = None,
        **llm_args: Any,
    ) -> None:
        from tensorrt_llm import SamplingParams as TrtSamplingParams
        from tensorrt_llm.executor import LoRARequest
        from tensorrt_llm.llmapi import KvCacheConfig
        from tensorrt_llm.sampling_params import GuidedDecodingParams
        from transformers import AutoConfig, AutoTokenizer

        self._classes = (TrtSamplingParams, GuidedDecodingParams, LoRARequest)
        if isinstance(llm_args.get("kv_cache_config"), dict):
            llm_args["kv_cache_config"] = KvCacheConfig(**llm_args["kv_cache_config"])
        # One Hugging Face tokenizer for TensorRT-LLM and for our glue (token bytes, echo).
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.vocab_size = int(AutoConfig.from_pretrained(tokenizer_dir).vocab_size)  # the logits' width
        self.llm = tensorrt_engine_llm()(model=engine_dir, tokenizer=self.tokenizer, **llm_args)
        self._stats_listener = stats_listener
        self.max_model_len = max_model_len
        self.config = config
        self.loras = _LoRAs()
        self._stats = EngineStats()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="trtllm-engine", daemon=True)

    def start(self) -> TensorRTLLMEngine:
        self._thread.start()
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self.llm.shutdown()

    @property
    def stats(self) -> EngineStats:
        return self._stats

    def submit(self, request: GenerationRequest) -> None:
        request.params.validate()
        request.params.check_vocabulary(self.vocab_size)
        sampling_cls, guided_cls, lora_cls = self._classes
        request.check_prompt_limit()
        kwargs = sampling_kwargs(request.params, len(request.prompt_ids), self.max_model_len)
        bias = embedding_bias(request.params.logit_bias, self.vocab_size)
        if bias is not None:
            import torch

            kwargs["embedding_bias"] = torch.tensor(bias, dtype=torch.float32)
        guide = guided_kwargs(request.params.guide_type, request.params.guide)
        if guide is not None:
            kwargs["guided_decoding"] = guided_cls(**guide)
        lora = self.loras.request(request.lora_name, request.lora_path, lora_cls) if request.lora_name else None
        with self._lock:
            if self._in_flight >= self.config.max_num_seqs + self.config.max_queue_len:
                raise EngineOverloaded(f"the server is overloaded: {self._in_flight} requests in flight; retry later")
            self._in_flight += 1
            self._stats = replace(self._stats, running=self._in_flight)
        asyncio.run_coroutine_threadsafe(self._run(request, sampling_cls(**kwargs), lora), self._loop)

    async def _run(self, request: GenerationRequest, sampling: Any, lora: Any) -> None:
        deltas = OutputDeltas(len(request.prompt_ids), request.params.logprobs or 0)
        last = GenerationOutput("", [], len(request.prompt_ids), 0)
        try:
            result = self.llm.generate_async(request.prompt_ids, sampling, streaming=True, lora_request=lora)
            async for output in result:
                if request.is_cancelled():
                    result.abort()
                    last = replace(last, text="", token_ids=[], logprobs=[], finish_reason=FINISH_CANCELLED)
                    request.on_output(last)
                    return
                last = deltas.step(output.outputs[0], output.finished)
                request.on_output(last)
        except Exception as exc:  # noqa: BLE001 - one request's failure must reach its client only
            logger.exception("TensorRT-LLM request %s failed", request.request_id)
            request.on_output(
                replace(last, text="", token_ids=[], logprobs=[], finish_reason=FINISH_ERROR, error=str(exc))
            )
        finally:
            with self._lock:
                self._in_flight -= 1
                cancelled = last.finish_reason == FINISH_CANCELLED
                self._stats = replace(
                    self._stats,
                    running=self._in_flight,
                    finished_total=self._stats.finished_total + 1,
                    cancelled_total=self._stats.cancelled_total + cancelled,
                    generated_tokens_total=self._stats.generated_tokens_total + last.num_output_tokens,
                    prompt_tokens_total=self._stats.prompt_tokens_total + len(request.prompt_ids),
                )
            if self._stats_listener is not None:
                self._stats_listener(self._stats)
