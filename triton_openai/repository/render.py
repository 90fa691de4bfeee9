"""Render `model_repository/` templates into a repository tritonserver loads.

Each served LLM becomes three Triton models: `<name>` (the ensemble clients call),
`<name>_preprocessing` and `<name>_llm`. Only the ensemble carries the `openai_kind`
parameter, which is how the frontend tells served models from their parts. An
embedding, Whisper or speech model is one Triton model named as served, with its
`openai_kind` (embeddings, transcription, speech, image; a vision model is an llm
that also takes images, with `input_modalities`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from triton_openai.model_settings import (
    EmbeddingParameters,
    EmbeddingSettings,
    GenerationDefaultsSettings,
    ImageParameters,
    ImageSettings,
    LLMParameters,
    LLMSettings,
    PreprocessingParameters,
    SpeechParameters,
    SpeechSettings,
    TranscriptionParameters,
    TranscriptionSettings,
    VisionParameters,
    VisionSettings,
    pick,
    to_parameters,
)
from triton_openai.models.llm.generation_defaults import resolve_defaults
from triton_openai.repository.assets import PreparedAsset, embedding_info, image_default_size, whisper_languages
from triton_openai.repository.cache import digest
from triton_openai.repository.fill_template import fill_template, parameter_entries
from triton_openai.repository.prepare import PreparedModel
from triton_openai.repository.tokenizer_facts import max_chars_per_token, reasoning_parser
from triton_openai.repository.trtllm import TrtllmOptions, runtime_args

TEMPLATES = Path(__file__).resolve().parents[2] / "model_repository"
VERSION_KEY = "triton-openai/1"


@dataclass(frozen=True)
class LLMDeployment:
    """How one LLM is served: its engine and the engine's limits."""

    model: PreparedModel
    settings: LLMSettings = LLMSettings()
    trtllm: TrtllmOptions = TrtllmOptions()  # engine "tensorrt_llm": how the engine was built and runs
    engine_dir: str = ""  # engine "tensorrt_llm": the built engine (triton_openai.repository.trtllm.build_engine)
    max_batch_size: int = 64  # Triton's batch dimension; the engine batches on its own

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def context_length(self) -> int:
        window = int(self.model.config.get("max_position_embeddings") or 2048)
        limit = self.settings.max_model_len
        return min(limit, window) if limit > 0 else window

    @property
    def system_fingerprint(self) -> str:
        s = self.settings
        parts = (self.model.weights_key, s.engine, s.device, s.dtype, s.quantization)
        return "fp_" + digest(VERSION_KEY, *parts, length=10)

    @property
    def parameters(self) -> LLMParameters:
        """The llm model's config.pbtxt parameters."""
        return pick(
            LLMParameters,
            self.settings,
            model_dir=str(self.model.model_dir),
            max_model_len=self.context_length,
            weights_file=self.model.gguf_file or "",
            generation_defaults=generation_defaults(self.model.model_dir, self.settings),
            engine_dir=self.engine_dir,
            trtllm_args=runtime_args(self.trtllm),
        )


def generation_defaults(model_dir: Path, settings: GenerationDefaultsSettings) -> dict[str, Any]:
    """The `generation_defaults` parameter of a model that generates text
    (triton_openai.models.llm.generation_defaults)."""
    overrides = settings.override_generation_config
    return resolve_defaults(model_dir, settings.generation_config, json.loads(overrides) if overrides else {})


# OpenAI's voice names; each maps to an installed voice (the first, unless one has the name).
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "cedar",
    "coral",
    "echo",
    "fable",
    "marin",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)


@dataclass(frozen=True)
class EmbeddingDeployment:
    model: PreparedAsset
    settings: EmbeddingSettings = EmbeddingSettings()
    max_batch_size: int = 2048  # OpenAI's limit on inputs per request: one Triton request each
    max_queue_delay_us: int = 1000

    @property
    def name(self) -> str:
        return self.model.name

    def render(self, out_dir: Path) -> None:
        dimension, max_tokens = embedding_info(self.model.path)
        facts = {
            "max_batch_size": self.max_batch_size,
            "max_queue_delay_us": self.max_queue_delay_us,
            "created": self.model.created,
            "embedding_dim": dimension,
            "max_input_tokens": max_tokens,
        }
        parameters = pick(EmbeddingParameters, self.settings, model_dir=str(self.model.path))
        _render("embeddings", out_dir / self.name, facts, parameters)


@dataclass(frozen=True)
class TranscriptionDeployment:
    model: PreparedAsset
    settings: TranscriptionSettings = TranscriptionSettings()

    @property
    def name(self) -> str:
        return self.model.name

    def render(self, out_dir: Path) -> None:
        facts = {"created": self.model.created, "languages": ",".join(whisper_languages(self.model.path))}
        parameters = pick(TranscriptionParameters, self.settings, model_dir=str(self.model.path))
        _render("whisper", out_dir / self.name, facts, parameters)


@dataclass(frozen=True)
class SpeechDeployment:
    """One speech model serving several piper voices; OpenAI's voice names are aliases."""

    name: str
    voices: tuple[PreparedAsset, ...]
    settings: SpeechSettings = SpeechSettings()

    def render(self, out_dir: Path) -> None:
        files = {voice.name: str(voice.path) for voice in self.voices}
        aliases = {alias: self.voices[0].name for alias in OPENAI_VOICES if alias not in files}
        facts = {"created": max(voice.created for voice in self.voices), "voices": ",".join([*files, *aliases])}
        parameters = pick(SpeechParameters, self.settings, voice_files=files, voice_aliases=aliases)
        _render("tts", out_dir / self.name, facts, parameters)


@dataclass(frozen=True)
class VisionDeployment:
    """A vision-language model folder, served for chat with images (triton_openai.models.llm.vision_engine)."""

    model: PreparedAsset
    settings: VisionSettings = VisionSettings()
    generation: GenerationDefaultsSettings = GenerationDefaultsSettings()

    @property
    def name(self) -> str:
        return self.model.name

    def render(self, out_dir: Path) -> None:
        config = json.loads((self.model.path / "config.json").read_text())
        text = config.get("text_config") or {}
        window = int(text.get("max_position_embeddings") or config.get("max_position_embeddings") or 4096)
        limit = self.settings.max_model_len
        folder = self.model.path
        has_template = any((folder / f).is_file() for f in ("chat_template.jinja", "chat_template.json")) or bool(
            _json_field(folder / "processor_config.json", "chat_template")
            or _json_field(folder / "tokenizer_config.json", "chat_template")
        )
        s = self.settings
        facts = {
            "served_model_name": self.name,
            "has_chat_template": str(has_template).lower(),
            "system_fingerprint": "fp_" + digest(VERSION_KEY, str(folder), s.device, s.dtype, length=10),
            "created": self.model.created,
        }
        parameters = pick(
            VisionParameters,
            s,
            model_dir=str(folder),
            max_model_len=min(limit, window) if limit > 0 else window,
            generation_defaults=generation_defaults(folder, self.generation),
        )
        _render("vision", out_dir / self.name, facts, parameters)


@dataclass(frozen=True)
class ImageDeployment:
    """A diffusers pipeline folder, served for /v1/images/generations."""

    model: PreparedAsset
    settings: ImageSettings = ImageSettings()

    @property
    def name(self) -> str:
        return self.model.name

    def render(self, out_dir: Path) -> None:
        width, height = image_default_size(self.model.path)
        facts = {"created": self.model.created, "default_size": f"{width}x{height}"}
        parameters = pick(ImageParameters, self.settings, model_dir=str(self.model.path))
        _render("image", out_dir / self.name, facts, parameters)


def _json_field(path: Path, key: str) -> object:
    return json.loads(path.read_text()).get(key) if path.is_file() else None


OtherDeployment = EmbeddingDeployment | TranscriptionDeployment | SpeechDeployment | VisionDeployment | ImageDeployment


def render_repository(
    deployments: list[LLMDeployment],
    out_dir: Path,
    others: list[OtherDeployment] = (),
) -> Path:
    """Write one ensemble + preprocessing + llm per LLM, and the other models, into `out_dir` (replaced)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for other in others:
        other.render(out_dir)
    for d in deployments:
        _render(
            "preprocessing",
            out_dir / f"{d.name}_preprocessing",
            {"max_batch_size": d.max_batch_size, "preprocessing_instances": d.settings.preprocessing_instances},
            PreprocessingParameters(model_dir=str(d.model.model_dir)),
        )
        _render("llm", out_dir / f"{d.name}_llm", {"max_batch_size": d.max_batch_size}, d.parameters)
        _render(
            "ensemble",
            out_dir / d.name,
            {
                "served_model_name": d.name,
                "max_batch_size": d.max_batch_size,
                "preprocessing_model": f"{d.name}_preprocessing",
                "llm_model": f"{d.name}_llm",
                "openai_kind": "llm",
                "has_chat_template": str(d.model.has_chat_template).lower(),
                "max_model_len": d.context_length,
                "system_fingerprint": d.system_fingerprint,
                "created": d.model.created,
                "max_chars_per_token": max_chars_per_token(d.model.model_dir),
                "reasoning_parser": reasoning_parser(d.model.chat_template),
            },
        )
    return out_dir


def _render(template: str, target: Path, values: dict[str, object], parameters: BaseModel | None = None) -> None:
    """Copy a template, fill its placeholders with `values` and append `parameters`, field by field."""
    source = TEMPLATES / template
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".gitkeep"))
    config = target / "config.pbtxt"
    text = fill_template(config.read_text(), values)
    if parameters is not None:
        text += parameter_entries(to_parameters(parameters))
    config.write_text(text)
