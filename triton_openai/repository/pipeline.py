"""From model specs to a rendered repository: what `serve` and `build` both run."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from triton_openai.repository.assets import EMBEDDINGS, IMAGE, SPEECH, TRANSCRIPTION, VISION, prepare_asset
from triton_openai.repository.prepare import ModelSpec, ModelSpecError, prepare_model
from triton_openai.repository.render import (
    EmbeddingDeployment,
    ImageDeployment,
    LLMDeployment,
    SpeechDeployment,
    TranscriptionDeployment,
    VisionDeployment,
    render_repository,
)
from triton_openai.repository.trtllm import TrtllmOptions, build_engine

logger = logging.getLogger(__name__)

# A list option given as just this value turns the models of that kind off.
NONE = "none"


def build_repository(
    models: Sequence[str],
    out_dir: Path,
    cache: Path,
    *,
    embedding_models: Sequence[str] = (),
    transcription_models: Sequence[str] = (),
    speech_voices: Sequence[str] = (),
    speech_model_name: str = "tts",
    audio_workers: int = 2,
    whisper_beam_size: int = 5,
    vision_models: Sequence[str] = (),
    image_models: Sequence[str] = (),
    image_default_steps: int = 20,
    max_images_per_prompt: int = 8,
    tensor_parallel_size: int = 1,
    kv_cache_free_gpu_memory_fraction: float = 0.9,
    **engine_options: Any,
) -> Path:
    """Prepare every model (converting once into `cache`) and render the repository."""
    models, embedding_models, transcription_models, speech_voices = (
        _enabled(models),
        _enabled(embedding_models),
        _enabled(transcription_models),
        _enabled(speech_voices),
    )
    specs = [ModelSpec.parse(m) for m in models]
    deployments = [LLMDeployment(prepare_model(spec, cache), **engine_options) for spec in specs]
    if engine_options.get("engine") == "tensorrt_llm":
        deployments = [
            _with_trtllm_engine(d, cache, tensor_parallel_size, kv_cache_free_gpu_memory_fraction) for d in deployments
        ]
    shared = {"device": engine_options.get("device", "auto"), "num_threads": engine_options.get("num_threads", 0)}
    others: list[Any] = [EmbeddingDeployment(prepare_asset(m, EMBEDDINGS, cache), **shared) for m in embedding_models]
    others += [
        TranscriptionDeployment(
            prepare_asset(m, TRANSCRIPTION, cache), workers=audio_workers, beam_size=whisper_beam_size, **shared
        )
        for m in transcription_models
    ]
    dtype = engine_options.get("dtype", "auto")
    others += [
        VisionDeployment(
            prepare_asset(m, VISION, cache),
            dtype=dtype,
            max_model_len=engine_options.get("max_model_len", 0),
            max_queue_len=engine_options.get("max_queue_len", 64),
            max_images=max_images_per_prompt,
            generation_config=engine_options.get("generation_config", "auto"),
            override_generation_config=engine_options.get("override_generation_config", ""),
            **shared,
        )
        for m in _enabled(vision_models)
    ]
    others += [
        ImageDeployment(prepare_asset(m, IMAGE, cache), dtype=dtype, default_steps=image_default_steps, **shared)
        for m in _enabled(image_models)
    ]
    if speech_voices:
        if importlib.util.find_spec("piper") is None:
            logger.warning("text to speech is off: piper-tts is not installed (pip install 'triton-openai[tts]')")
        else:
            voices = tuple(prepare_asset(v, SPEECH, cache) for v in speech_voices)
            _check_unique([v.name for v in voices], "two voices are named")
            others.append(SpeechDeployment(speech_model_name, voices, device=shared["device"], workers=audio_workers))
    _check_unique([d.name for d in deployments] + [o.name for o in others], "two models are named")
    return render_repository(deployments, out_dir, others)


def _with_trtllm_engine(d: LLMDeployment, cache: Path, tp_size: int, kv_fraction: float) -> LLMDeployment:
    """`d` with a TensorRT-LLM engine built (or found in the cache) for its model."""
    options = TrtllmOptions(
        max_batch_size=d.max_num_seqs,
        max_seq_len=d.context_length,
        dtype=d.dtype,
        tensor_parallel_size=tp_size,
        kv_cache_free_gpu_memory_fraction=kv_fraction,
        max_loras=d.max_loras,
    )
    built = build_engine(str(d.model.model_dir), d.model.weights_key, options, d.context_length, cache)
    return replace(d, trtllm=options, engine_dir=str(built))


def _enabled(values: Sequence[str]) -> list[str]:
    values = [v for v in values if v]
    return [] if [v.lower() for v in values] == [NONE] else values


def _check_unique(names: list[str], what: str) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ModelSpecError(f"{what} {', '.join(duplicates)}; name them: NAME=SOURCE")
