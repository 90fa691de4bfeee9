"""Each served model kind's settings, defined once for the CLI, the repository and the model.

The `*Settings` classes are the user's choices: `frontend.settings.Settings` includes them,
so each field is a flag and an environment variable (`--max-num-seqs`,
`TRITON_OPENAI_MAX_NUM_SEQS`) with its default and description here. The `*Parameters`
classes add what model preparation found (folders, resolved limits, JSON blobs); the
repository writes every field of one into the model's `config.pbtxt` parameters under its
own name (`to_parameters`), and the model's `model.py` reads it back typed
(`read_parameters`). No table renames a field on the way.

Both sides import this module (as `contract.py`): it needs pydantic only.
"""

from __future__ import annotations

import json
import typing
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

_Model = TypeVar("_Model", bound=BaseModel)


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# -- what several kinds share -------------------------------------------------------------


class DeviceSettings(_Settings):
    device: str = Field("auto", description="Torch engine device: auto, cpu, cuda, cuda:N.")


class ComputeSettings(DeviceSettings):
    num_threads: int = Field(0, ge=0, description="Torch threads of the engine (0: all cores).")


class TorchSettings(ComputeSettings):
    dtype: str = Field("auto", description="Torch engine dtype: auto, float32, bfloat16, float16.")


class GenerationLimits(_Settings):
    """Limits of every model that generates text (the LLMs and the vision models)."""

    max_model_len: int = Field(0, ge=0, description="Context window in tokens (0: the model's own).")
    max_queue_len: int = Field(256, ge=1, description="Requests waiting for a batch slot before 429s.")


class AudioSettings(_Settings):
    audio_workers: int = Field(2, ge=1, description="Transcriptions / syntheses run at once per audio model.")


class GenerationDefaultsSettings(_Settings):
    """Where default sampling comes from; the repository resolves it into `generation_defaults`."""

    generation_config: Literal["auto", "none"] = Field(
        "auto",
        description="Default sampling of requests that leave it out: auto (the model folder's "
        "generation_config.json: temperature, top_p, top_k, min_p, repetition_penalty, max_new_tokens), or "
        "none (temperature 1, no filters, up to the context window).",
    )
    override_generation_config: str = Field(
        "",
        description="JSON object of defaults over those, with generation_config.json's names (e.g. "
        '{"temperature": 0.7, "max_new_tokens": 512}); null removes one.',
    )


# -- the LLM --------------------------------------------------------------------------------


class LLMEngineSettings(TorchSettings, GenerationLimits):
    """What an LLM engine (torch, TensorRT-LLM) is given: the llm model's settings."""

    engine: Literal["torch", "tensorrt_llm"] = Field(
        "torch",
        description="LLM engine: torch (CPU or CUDA), or tensorrt_llm (NVIDIA GPUs; builds and caches a "
        "TensorRT engine on first start).",
    )
    max_num_seqs: int = Field(32, ge=1, description="Requests decoded together in one batch.")
    prefill_chunk: int = Field(
        512, ge=16, description="Tokens per engine step: one per decoding request, the rest prompt chunks."
    )
    quantization: Literal["auto", "none", "q8", "q4"] = Field(
        "auto",
        description="Torch engine weights: auto (a GGUF model is served from its own 4/8-bit blocks, a "
        "safetensors folder at full precision), none (full precision), q8 / q4 (quantize a safetensors folder "
        "to 8-bit / 4-bit blocks at load).",
    )
    prompt_matmul: Literal["auto", "bf16", "blocks"] = Field(
        "auto",
        description="Torch engine on CPU, weights in 4/8-bit blocks: how prompt tokens are multiplied: bf16 (a "
        "bf16 copy of the weights, 2 bytes each, multiplied in AMX tiles: prefill about 4x faster), blocks (the "
        "blocks' own kernels, as generated tokens are), auto (bf16 where the CPU has AMX).",
    )
    kv_cache_tokens: int = Field(
        0, ge=0, description="Torch engine KV cache size in tokens (0: the context window, at least 1024 per sequence)."
    )
    prefix_caching: bool = Field(
        True, description="Torch engine: reuse the KV cache of prompt prefixes seen before (system prompts, history)."
    )
    max_loras: int = Field(4, ge=0, description="LoRA adapters kept loaded in the engine (least recently used go).")
    # Tokens per KV block: the engine's own, not a setting.
    block_size: ClassVar[int] = 16
    # `num_threads` is the CPU threads of the engine's own thread, the one that runs every step
    # (0: leave torch's count). The OpenMP runtime spins between parallel regions only while its
    # threads do not outnumber the cores; a second thread team (another thread that ran a parallel
    # op) makes every step's hundred-odd regions sleep and wake instead. So the thread that loads
    # the model runs at one thread, and the engine's thread alone owns a team.


class TrtllmSettings(_Settings):
    """The tensorrt_llm engine's build and runtime choices (repository.trtllm.TrtllmOptions)."""

    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per model for the tensorrt_llm engine.")
    kv_cache_free_gpu_memory_fraction: float = Field(
        0.9, gt=0, le=1, description="Share of free GPU memory the tensorrt_llm engine's paged KV cache takes."
    )


class LLMSettings(LLMEngineSettings, TrtllmSettings, GenerationDefaultsSettings):
    """Everything an LLM deployment is given (repository.render.LLMDeployment)."""

    preprocessing_instances: int = Field(
        1,
        ge=1,
        description="Tokenizer instances per LLM, for /tokenize, /detokenize and token counts (a generation's "
        "prompt is tokenized by the llm model itself).",
    )


class LLMParameters(LLMEngineSettings):
    """The llm model's config.pbtxt parameters."""

    model_dir: str
    weights_file: str = ""  # the GGUF the folder was converted from (its blocks can be served as they are)
    generation_defaults: dict[str, Any] = {}  # triton_openai.models.llm.generation_defaults
    engine_dir: str = ""  # engine "tensorrt_llm": the built engine
    trtllm_args: dict[str, Any] = {}  # engine "tensorrt_llm": the LLM API's runtime arguments


class PreprocessingParameters(_Settings):
    """The preprocessing model's config.pbtxt parameters (its instance count is in the template)."""

    model_dir: str


# -- the other kinds ----------------------------------------------------------------------


class EmbeddingSettings(ComputeSettings):
    pass


class EmbeddingParameters(EmbeddingSettings):
    model_dir: str


class TranscriptionSettings(ComputeSettings, AudioSettings):
    whisper_beam_size: int = Field(5, ge=1, description="Beam size of Whisper decoding (1: greedy, fastest).")


class TranscriptionParameters(TranscriptionSettings):
    model_dir: str


class SpeechSettings(DeviceSettings, AudioSettings):
    pass


class SpeechParameters(SpeechSettings):
    voice_files: dict[str, str]  # voice name -> its .onnx file
    voice_aliases: dict[str, str] = {}  # OpenAI's voice names -> a voice


class VisionSettings(TorchSettings, GenerationLimits):
    max_images_per_prompt: int = Field(8, ge=0, description="Images one chat request may carry.")


class VisionParameters(VisionSettings):
    model_dir: str
    generation_defaults: dict[str, Any] = {}


class ImageSettings(TorchSettings):
    image_default_steps: int = Field(
        20, ge=1, le=200, description="Denoising steps when a request sets none (turbo models want 1-4)."
    )


class ImageParameters(ImageSettings):
    model_dir: str


# -- config.pbtxt parameters <-> typed settings -------------------------------------------


def pick(cls: type[_Model], source: BaseModel, **values: Any) -> _Model:
    """`cls` made of the fields of `source` that it has (plus `values`): a part of the settings."""
    fields = {name: getattr(source, name) for name in cls.model_fields if hasattr(source, name)}
    return cls(**{**fields, **values})


def to_parameters(settings: BaseModel) -> dict[str, str]:
    """Every field as a config.pbtxt string parameter: booleans as true/false, dicts and lists as JSON."""
    return {name: _encode(getattr(settings, name)) for name in type(settings).model_fields}


def read_parameters(cls: type[_Model], parameters: dict[str, str]) -> _Model:
    """`cls` from config.pbtxt string parameters (what `to_parameters` wrote), types checked."""
    values: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if name in parameters:
            text = parameters[name]
            values[name] = json.loads(text) if _is_json(info.annotation) else text
    return cls.model_validate(values)


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _is_json(annotation: Any) -> bool:
    return (typing.get_origin(annotation) or annotation) in (dict, list)
