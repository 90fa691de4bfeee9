"""From model specs to a rendered repository: what `serve` and `build` both run."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from triton_openai.model_settings import (
    EmbeddingSettings,
    GenerationDefaultsSettings,
    ImageSettings,
    LLMSettings,
    SpeechSettings,
    TranscriptionSettings,
    VisionSettings,
    pick,
)
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
from triton_openai.repository.settings import RepositorySettings
from triton_openai.repository.trtllm import TrtllmOptions, build_engine

logger = logging.getLogger(__name__)

# A list option given as just this value turns the models of that kind off.
NONE = "none"


def build_repository(settings: RepositorySettings, out_dir: Path, cache: Path) -> Path:
    """Prepare every model (converting once into `cache`) and render the repository."""
    llm = pick(LLMSettings, settings)
    deployments = [LLMDeployment(prepare_model(ModelSpec.parse(m), cache), llm) for m in _enabled(settings.model)]
    if llm.engine == "tensorrt_llm":
        deployments = [_with_trtllm_engine(d, cache) for d in deployments]
    others: list[Any] = [
        EmbeddingDeployment(prepare_asset(m, EMBEDDINGS, cache), pick(EmbeddingSettings, settings))
        for m in _enabled(settings.embedding_model)
    ]
    others += [
        TranscriptionDeployment(prepare_asset(m, TRANSCRIPTION, cache), pick(TranscriptionSettings, settings))
        for m in _enabled(settings.transcription_model)
    ]
    generation = pick(GenerationDefaultsSettings, settings)
    others += [
        VisionDeployment(prepare_asset(m, VISION, cache), pick(VisionSettings, settings), generation)
        for m in _enabled(settings.vision_model)
    ]
    others += [
        ImageDeployment(prepare_asset(m, IMAGE, cache), pick(ImageSettings, settings))
        for m in _enabled(settings.image_model)
    ]
    if speech_voices := _enabled(settings.speech_voice):
        if importlib.util.find_spec("piper") is None:
            logger.warning("text to speech is off: piper-tts is not installed (pip install 'triton-openai[tts]')")
        else:
            voices = tuple(prepare_asset(v, SPEECH, cache) for v in speech_voices)
            _check_unique([v.name for v in voices], "two voices are named")
            others.append(SpeechDeployment(settings.speech_model_name, voices, pick(SpeechSettings, settings)))
    _check_unique([d.name for d in deployments] + [o.name for o in others], "two models are named")
    return render_repository(deployments, out_dir, others)


def _with_trtllm_engine(d: LLMDeployment, cache: Path) -> LLMDeployment:
    """`d` with a TensorRT-LLM engine built (or found in the cache) for its model."""
    options = pick(
        TrtllmOptions,
        d.settings,
        max_batch_size=d.settings.max_num_seqs,
        max_seq_len=d.context_length,
        dtype=d.settings.dtype,
        max_loras=d.settings.max_loras,
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
