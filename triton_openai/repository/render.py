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

from triton_openai.models.llm.generation_defaults import resolve_defaults
from triton_openai.repository.assets import PreparedAsset, embedding_info, image_default_size, whisper_languages
from triton_openai.repository.cache import digest
from triton_openai.repository.fill_template import fill_template
from triton_openai.repository.prepare import PreparedModel
from triton_openai.repository.tokenizer_facts import max_chars_per_token, reasoning_parser
from triton_openai.repository.trtllm import TrtllmOptions, runtime_args

TEMPLATES = Path(__file__).resolve().parents[2] / "model_repository"
VERSION_KEY = "triton-openai/1"


@dataclass(frozen=True)
class LLMDeployment:
    """How one LLM is served: its engine and the engine's limits."""

    model: PreparedModel
    engine: str = "torch"
    device: str = "auto"
    dtype: str = "auto"
    max_model_len: int = 0  # 0: the model's own context window
    max_num_seqs: int = 32
    max_queue_len: int = 256
    prefill_chunk: int = 512
    quantization: str = "auto"  # torch engine: auto, none, q4 (triton_openai.models.llm.decoder_loader)
    kv_cache_tokens: int = 0  # torch engine: 0 = the context window, at least 1024 per sequence
    prefix_caching: bool = True
    num_threads: int = 0  # 0: all cores
    max_loras: int = 4  # LoRA adapters the engine keeps loaded (0: none)
    trtllm: TrtllmOptions = TrtllmOptions()  # engine "tensorrt_llm": how the engine was built and runs
    engine_dir: str = ""  # engine "tensorrt_llm": the built engine (triton_openai.repository.trtllm.build_engine)
    max_batch_size: int = 64  # Triton's batch dimension; the engine batches on its own
    preprocessing_instances: int = 2  # a long prompt being tokenized holds up one, not all
    generation_config: str = "auto"  # default sampling: the folder's generation_config.json, or none
    override_generation_config: str = ""  # JSON object over those defaults

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def generation_defaults(self) -> str:
        return generation_defaults_json(self.model.model_dir, self.generation_config, self.override_generation_config)

    @property
    def context_length(self) -> int:
        window = int(self.model.config.get("max_position_embeddings") or 2048)
        return min(self.max_model_len, window) if self.max_model_len > 0 else window

    @property
    def system_fingerprint(self) -> str:
        parts = (self.model.weights_key, self.engine, self.device, self.dtype, self.quantization)
        return "fp_" + digest(VERSION_KEY, *parts, length=10)


def generation_defaults_json(model_dir: Path, source: str, overrides: str) -> str:
    """The `generation_defaults` parameter of a model that generates text
    (triton_openai.models.llm.generation_defaults)."""
    return json.dumps(resolve_defaults(model_dir, source, json.loads(overrides) if overrides else {}))


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
    device: str = "auto"
    num_threads: int = 0
    max_batch_size: int = 2048  # OpenAI's limit on inputs per request: one Triton request each
    max_queue_delay_us: int = 1000

    @property
    def name(self) -> str:
        return self.model.name

    def render(self, out_dir: Path) -> None:
        dimension, max_tokens = embedding_info(self.model.path)
        _render(
            "embeddings",
            out_dir / self.name,
            {
                "max_batch_size": self.max_batch_size,
                "max_queue_delay_us": self.max_queue_delay_us,
                "created": self.model.created,
                "model_dir": self.model.path,
                "device": self.device,
                "num_threads": self.num_threads,
                "embedding_dim": dimension,
                "max_input_tokens": max_tokens,
            },
        )


@dataclass(frozen=True)
class TranscriptionDeployment:
    model: PreparedAsset
    device: str = "auto"
    num_threads: int = 0
    workers: int = 2
    beam_size: int = 5

    @property
    def name(self) -> str:
        return self.model.name

    def render(self, out_dir: Path) -> None:
        device = "cpu" if self.device.startswith("cpu") else "auto" if self.device == "auto" else "cuda"
        _render(
            "whisper",
            out_dir / self.name,
            {
                "created": self.model.created,
                "model_dir": self.model.path,
                "device": device,
                "compute_type": "default",
                "num_threads": self.num_threads,
                "workers": self.workers,
                "beam_size": self.beam_size,
                "languages": ",".join(whisper_languages(self.model.path)),
            },
        )


@dataclass(frozen=True)
class SpeechDeployment:
    """One speech model serving several piper voices; OpenAI's voice names are aliases."""

    name: str
    voices: tuple[PreparedAsset, ...]
    device: str = "auto"
    workers: int = 2

    def render(self, out_dir: Path) -> None:
        files = {voice.name: str(voice.path) for voice in self.voices}
        aliases = {alias: self.voices[0].name for alias in OPENAI_VOICES if alias not in files}
        _render(
            "tts",
            out_dir / self.name,
            {
                "created": max(voice.created for voice in self.voices),
                "device": "cuda" if self.device.startswith("cuda") else "cpu",
                "workers": self.workers,
                "voice_files": json.dumps(files),
                "voice_aliases": json.dumps(aliases),
                "voices": ",".join([*files, *aliases]),
            },
        )


@dataclass(frozen=True)
class VisionDeployment:
    """A vision-language model folder, served for chat with images (triton_openai.models.llm.vision_engine)."""

    model: PreparedAsset
    device: str = "auto"
    dtype: str = "auto"
    num_threads: int = 0
    max_model_len: int = 0
    max_queue_len: int = 64
    max_images: int = 8
    generation_config: str = "auto"
    override_generation_config: str = ""

    @property
    def name(self) -> str:
        return self.model.name

    def render(self, out_dir: Path) -> None:
        config = json.loads((self.model.path / "config.json").read_text())
        text = config.get("text_config") or {}
        window = int(text.get("max_position_embeddings") or config.get("max_position_embeddings") or 4096)
        context = min(self.max_model_len, window) if self.max_model_len > 0 else window
        folder = self.model.path
        has_template = any((folder / f).is_file() for f in ("chat_template.jinja", "chat_template.json")) or bool(
            _json_field(folder / "processor_config.json", "chat_template")
            or _json_field(folder / "tokenizer_config.json", "chat_template")
        )
        _render(
            "vision",
            out_dir / self.name,
            {
                "served_model_name": self.name,
                "has_chat_template": str(has_template).lower(),
                "max_model_len": context,
                "system_fingerprint": "fp_" + digest(VERSION_KEY, str(folder), self.device, self.dtype, length=10),
                "created": self.model.created,
                "model_dir": folder,
                "device": self.device,
                "dtype": self.dtype,
                "num_threads": self.num_threads,
                "max_queue_len": self.max_queue_len,
                "max_images": self.max_images,
                "generation_defaults": generation_defaults_json(
                    folder, self.generation_config, self.override_generation_config
                ),
            },
        )


@dataclass(frozen=True)
class ImageDeployment:
    """A diffusers pipeline folder, served for /v1/images/generations."""

    model: PreparedAsset
    device: str = "auto"
    dtype: str = "auto"
    num_threads: int = 0
    default_steps: int = 20

    @property
    def name(self) -> str:
        return self.model.name

    def render(self, out_dir: Path) -> None:
        width, height = image_default_size(self.model.path)
        _render(
            "image",
            out_dir / self.name,
            {
                "created": self.model.created,
                "default_size": f"{width}x{height}",
                "model_dir": self.model.path,
                "device": self.device,
                "dtype": self.dtype,
                "num_threads": self.num_threads,
                "default_steps": self.default_steps,
            },
        )


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
        common = {"max_batch_size": d.max_batch_size, "model_dir": d.model.model_dir}
        _render(
            "preprocessing",
            out_dir / f"{d.name}_preprocessing",
            {**common, "preprocessing_instances": d.preprocessing_instances},
        )
        _render(
            "llm",
            out_dir / f"{d.name}_llm",
            {
                **common,
                "engine": d.engine,
                "device": d.device,
                "dtype": d.dtype,
                "max_model_len": d.context_length,
                "max_num_seqs": d.max_num_seqs,
                "max_queue_len": d.max_queue_len,
                "prefill_chunk": d.prefill_chunk,
                "weights_file": d.model.gguf_file or "",
                "quantization": d.quantization,
                "kv_cache_tokens": d.kv_cache_tokens,
                "prefix_caching": str(d.prefix_caching).lower(),
                "num_threads": d.num_threads,
                "max_loras": d.max_loras,
                "generation_defaults": d.generation_defaults,
                "engine_dir": d.engine_dir,
                "trtllm_args": json.dumps(runtime_args(d.trtllm)),
            },
        )
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


def _render(template: str, target: Path, values: dict[str, object]) -> None:
    source = TEMPLATES / template
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".gitkeep"))
    config = target / "config.pbtxt"
    config.write_text(fill_template(config.read_text(), values))
