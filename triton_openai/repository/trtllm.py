"""The TensorRT-LLM path of model preparation: a Hugging Face folder -> a TensorRT engine, cached.

TensorRT-LLM's LLM API converts the checkpoint and builds the engine in one call
(`LLM(model=hf_folder, build_config=...)`, then `llm.save(engine_dir)`), the same work as
`convert_checkpoint.py` + `trtllm-build`. The options users tune are `TrtllmOptions`; the
engine lands under the cache, keyed by the model's weights, the options and the
TensorRT-LLM version, so a second start reuses it. Building needs an NVIDIA GPU and the
`tensorrt_llm` package (the NGC `tritonserver:<yy.mm>-trtllm-python-py3` images have both).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from triton_openai.repository.cache import digest

logger = logging.getLogger(__name__)

DTYPES = ("auto", "float16", "bfloat16", "float32")


@dataclass(frozen=True)
class TrtllmOptions:
    max_batch_size: int = 64
    max_input_len: int = 0  # 0: the context length
    max_seq_len: int = 0  # 0: the context length
    dtype: str = "auto"
    tensor_parallel_size: int = 1
    paged_kv_cache: bool = True
    kv_cache_free_gpu_memory_fraction: float = 0.9
    max_loras: int = 0  # LoRA slots on the GPU (0: no LoRA)
    max_lora_rank: int = 64

    def check(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"TensorRT-LLM dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        if self.tensor_parallel_size < 1 or self.max_batch_size < 1:
            raise ValueError("tensor_parallel_size and max_batch_size must be at least 1")
        if not 0.0 < self.kv_cache_free_gpu_memory_fraction <= 1.0:
            raise ValueError("kv_cache_free_gpu_memory_fraction must be in (0, 1]")


def build_args(model_dir: str, options: TrtllmOptions, context_length: int) -> dict[str, Any]:
    """Keyword arguments of tensorrt_llm.LLM that build the engine from `model_dir`."""
    options.check()
    max_seq_len = options.max_seq_len or context_length
    args: dict[str, Any] = {
        "model": model_dir,
        "dtype": options.dtype,
        "tensor_parallel_size": options.tensor_parallel_size,
        "build_config": {
            "max_batch_size": options.max_batch_size,
            "max_input_len": options.max_input_len or max_seq_len,
            "max_seq_len": max_seq_len,
            "plugin_config": {"paged_kv_cache": options.paged_kv_cache},
        },
    }
    if options.max_loras:
        args["enable_lora"] = True
        args["lora_config"] = {"max_loras": options.max_loras, "max_lora_rank": options.max_lora_rank}
    return args


def runtime_args(options: TrtllmOptions) -> dict[str, Any]:
    """Keyword arguments of tensorrt_llm.LLM when it loads the built engine (triton_openai.models.llm.trtllm_engine)."""
    args: dict[str, Any] = {
        "kv_cache_config": {"free_gpu_memory_fraction": options.kv_cache_free_gpu_memory_fraction},
        # Without a backend TensorRT-LLM takes guided_decoding requests but enforces nothing;
        # xgrammar is the one its TensorRT backend implements.
        "guided_decoding_backend": "xgrammar",
    }
    if options.max_loras:
        args["enable_lora"] = True
        args["lora_config"] = {"max_loras": options.max_loras, "max_lora_rank": options.max_lora_rank}
    return args


def engine_dir(cache: Path, weights_key: str, options: TrtllmOptions, trtllm_version: str) -> Path:
    key = digest(weights_key, json.dumps(asdict(options), sort_keys=True), trtllm_version)
    return cache / "trtllm-engines" / key


def build_engine(model_dir: str, weights_key: str, options: TrtllmOptions, context_length: int, cache: Path) -> Path:
    """The engine folder for `model_dir` with `options`, built once (minutes on a GPU)."""
    try:
        import tensorrt_llm
        from tensorrt_llm.llmapi import BuildConfig

        from triton_openai.models.llm.trtllm_engine import tensorrt_engine_llm
    except ImportError as exc:
        raise RuntimeError(
            "the tensorrt_llm engine needs the tensorrt_llm package and an NVIDIA GPU "
            "(use the image from Dockerfile.triton, or --engine torch)"
        ) from exc
    out = engine_dir(cache, weights_key, options, tensorrt_llm.__version__)
    if (out / "config.json").exists():
        logger.info("TensorRT-LLM engine: %s (cached)", out)
        return out
    args = build_args(model_dir, options, context_length)
    build = args.pop("build_config")
    plugin = build.pop("plugin_config")
    config = BuildConfig(**build)
    config.plugin_config.paged_kv_cache = plugin["paged_kv_cache"]
    logger.info("building a TensorRT-LLM engine for %s (%s); this takes minutes", model_dir, options)
    started = time.monotonic()
    llm = tensorrt_engine_llm()(build_config=config, **args)
    try:
        llm.save(str(out))
    finally:
        llm.shutdown()
    logger.info("TensorRT-LLM engine built in %.0f s: %s", time.monotonic() - started, out)
    return out
