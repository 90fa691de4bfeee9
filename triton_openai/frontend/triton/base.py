"""What serving code needs from the inference backend, as a protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from triton_openai import contract as t


@dataclass(frozen=True)
class ServedModel:
    """A model the API offers (a Triton ensemble with an `openai_kind` parameter)."""

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

    def parameter_list(self, key: str) -> list[str]:
        """A comma-separated parameter as a list (empty if absent)."""
        return [item for item in self.parameters.get(key, "").split(",") if item]

    @property
    def accepts_images(self) -> bool:
        return t.MODALITY_IMAGE in self.parameter_list(t.PARAM_INPUT_MODALITIES)

    @property
    def tokenizes_itself(self) -> bool:
        """A model without a preprocessing part (a vision model) takes prompts as text and messages."""
        return self.kind == t.KIND_LLM and self.preprocessing_model is None

    def int_parameter(self, key: str, default: int = 0) -> int:
        value = self.parameters.get(key, "")
        return int(value) if value.lstrip("-").isdigit() else default


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
    stop_reason: str | None = None  # on the last chunk: the stop string that ended the output


@dataclass(frozen=True)
class AudioChunk:
    """Encoded audio from a speech model, and how many seconds have been produced so far."""

    data: bytes
    seconds: float


class TritonClient(Protocol):
    async def ready(self) -> bool:
        """Whether the backend answers and serves every model it knows."""

    async def models(self) -> list[ServedModel]:
        """The served models, in the order the backend lists them."""

    async def tokenize(self, model: ServedModel, prompt: dict[str, Any]) -> TokenizedPrompt:
        """A prompt tokenized: `{text_input: ...}` as is, or `{messages: json}` through the chat
        template; the preprocessing model's other inputs (tools, add_special_tokens, ...) may ride along."""

    async def detokenize(self, model: ServedModel, token_ids: list[int]) -> str:
        """The text of token ids, special tokens included."""

    def generate(
        self, model: ServedModel, input_ids: list[int], parameters: dict[str, Any], request_id: str
    ) -> AsyncIterator[GenerationChunk]:
        """Stream one generation. Closing the iterator early cancels the request."""

    async def embed(
        self, model: ServedModel, rows: list[str] | list[list[int]], parameters: dict[str, Any]
    ) -> tuple[Any, list[int]]:
        """Vectors (a float32 array, one row per input) and the token count of each input."""

    def transcribe(
        self, model: ServedModel, audio: bytes, options: dict[str, Any], request_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream a transcription's events: `info`, then each `segment`."""

    def synthesize(self, model: ServedModel, options: dict[str, Any], request_id: str) -> AsyncIterator[AudioChunk]:
        """Stream encoded speech as it is synthesized."""

    def generate_images(self, model: ServedModel, options: dict[str, Any], request_id: str) -> AsyncIterator[bytes]:
        """Stream generated images, each encoded (PNG, JPEG or WebP) as it is done."""

    async def unload_lora(self, model: ServedModel, name: str) -> None:
        """Drop the LoRA adapter `name` from `model`'s engine (it loads again on next use)."""

    async def version(self) -> str:
        """The backend's version string."""

    async def close(self) -> None:
        """Release connections."""
