"""What serving code needs from the inference backend, as a protocol: the served models, and
what comes back from them (the jobs that go to them: triton_openai.frontend.triton.jobs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from triton_openai import contract as t
from triton_openai.frontend.triton.jobs import (
    EmbeddingJob,
    GenerationJob,
    ImageJob,
    LoraAdapter,
    SpeechJob,
    TokenizeJob,
    TranscriptionJob,
)


class ModelKind:
    """What a served model does: its ensemble's `openai_kind` parameter."""

    LLM = t.KIND_LLM  # chat and completions
    EMBEDDINGS = t.KIND_EMBEDDINGS
    TRANSCRIPTION = t.KIND_TRANSCRIPTION  # speech to text
    SPEECH = t.KIND_SPEECH  # text to speech
    IMAGE = t.KIND_IMAGE  # image generation


@dataclass(frozen=True)
class ServedModel:
    """A model the API offers (a Triton ensemble with an `openai_kind` parameter, one of
    ModelKind), and what its config's parameters say about it."""

    name: str
    kind: str
    created: int
    has_chat_template: bool = False
    max_model_len: int | None = None
    system_fingerprint: str | None = None
    preprocessing_model: str | None = None  # the ensemble's parts, called directly
    llm_model: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)  # all of its config's parameters
    parent: str | None = None  # a LoRA adapter's base model
    lora_path: str | None = None  # a LoRA adapter's folder (the engine loads it by name)

    def _list(self, key: str) -> list[str]:
        """A comma-separated parameter as a list (empty if absent)."""
        return [item for item in self.parameters.get(key, "").split(",") if item]

    def _int(self, key: str, default: int = 0) -> int:
        value = self.parameters.get(key, "")
        return int(value) if value.lstrip("-").isdigit() else default

    @property
    def accepts_images(self) -> bool:
        return t.MODALITY_IMAGE in self._list(t.PARAM_INPUT_MODALITIES)

    @property
    def has_tokenizer(self) -> bool:
        """An LLM with a preprocessing part, which tokenizes prompts apart from generating (for
        /tokenize and token counts); a vision model has none (its processor is in its engine)."""
        return self.kind == ModelKind.LLM and self.preprocessing_model is not None

    @property
    def lora(self) -> LoraAdapter | None:
        """The LoRA adapter this model is (served by name on its base model's engine), if it is one."""
        return LoraAdapter(self.name, self.lora_path) if self.lora_path else None

    @property
    def reasoning_parser(self) -> str:
        """`think` when the chat template speaks <think>...</think>; empty otherwise."""
        return self.parameters.get(t.PARAM_REASONING_PARSER, "")

    @property
    def max_chars_per_token(self) -> int:
        """The longest vocabulary entry in characters (0: unknown, or a normalizer may drop characters)."""
        return self._int(t.PARAM_MAX_CHARS_PER_TOKEN)

    @property
    def embedding_dim(self) -> int:
        """An embeddings model's vector size (0: unknown)."""
        return self._int(t.PARAM_EMBEDDING_DIM)

    @property
    def voices(self) -> list[str]:
        """A speech model's voice names, aliases included (empty: unknown)."""
        return self._list(t.PARAM_VOICES)

    @property
    def languages(self) -> list[str]:
        """A transcription model's languages, ISO 639-1 (empty: unknown)."""
        return self._list(t.PARAM_LANGUAGES)

    @property
    def default_image_size(self) -> str:
        """An image model's WIDTHxHEIGHT for size `auto`."""
        return self.parameters.get(t.PARAM_DEFAULT_SIZE, "1024x1024")

    @property
    def image_default_steps(self) -> int:
        """An image model's denoising steps when a request sets none (--image-default-steps)."""
        return self._int(t.PARAM_IMAGE_DEFAULT_STEPS, 20)


@dataclass(frozen=True)
class TokenizedPrompt:
    """A prompt as the model's preprocessing made it: the text it tokenized (the chat
    template's output for messages) and the token ids; the vocabulary entries when asked."""

    token_ids: list[int]
    text: str = ""
    token_strs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GenerationChunk:
    """One response of a generation stream: new text and tokens since the last one."""

    text: str
    token_ids: list[int]
    finish_reason: str | None
    num_input_tokens: int
    num_output_tokens: int
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # OpenAI chat format, per new token
    num_cached_tokens: int = 0  # prompt tokens the engine's prefix cache served
    stop_reason: str | int | None = None  # on the last chunk: the stop string or stop token id that ended it
    rendered_prompt: str | None = None  # on the first chunk of a chat prompt: the chat template's output


@dataclass(frozen=True)
class AudioChunk:
    """Encoded audio from a speech model, and how many seconds have been produced so far."""

    data: bytes
    seconds: float


class TritonClient(Protocol):
    """The models behind the API. Each method takes a typed job
    (triton_openai.frontend.triton.jobs); how it becomes tensors is the implementation's
    business. Errors are triton_openai.frontend.errors: a model's complaint about the
    request is InvalidRequest (400), a full queue Overloaded (429), no backend BackendUnavailable."""

    async def ready(self) -> bool:
        """Whether the backend answers and serves every model it knows."""

    async def models(self) -> list[ServedModel]:
        """The served models, in the order the backend lists them."""

    async def tokenize(self, model: ServedModel, job: TokenizeJob) -> TokenizedPrompt:
        """A prompt tokenized by the model's tokenizer: a text as is, or messages through its chat template."""

    async def detokenize(self, model: ServedModel, token_ids: list[int]) -> str:
        """The text of token ids, special tokens included."""

    def generate(self, model: ServedModel, job: GenerationJob, request_id: str) -> AsyncIterator[GenerationChunk]:
        """Stream one choice's generation. Closing the iterator early cancels the request."""

    async def embed(self, model: ServedModel, job: EmbeddingJob) -> tuple[Any, list[int]]:
        """Vectors (a float32 array, one row per input) and the token count of each input."""

    def transcribe(self, model: ServedModel, job: TranscriptionJob, request_id: str) -> AsyncIterator[dict[str, Any]]:
        """Stream a transcription's events: `info`, then each `segment`."""

    def synthesize(self, model: ServedModel, job: SpeechJob, request_id: str) -> AsyncIterator[AudioChunk]:
        """Stream encoded speech as it is synthesized."""

    def generate_images(self, model: ServedModel, job: ImageJob, request_id: str) -> AsyncIterator[bytes]:
        """Stream generated images, each encoded (PNG, JPEG or WebP) as it is done."""

    async def unload_lora(self, model: ServedModel, name: str) -> None:
        """Drop the LoRA adapter `name` from `model`'s engine (it loads again on next use)."""

    async def version(self) -> str:
        """The backend's version string."""

    async def close(self) -> None:
        """Release connections."""
