"""What serving code asks of the Triton models: one typed job per kind of work.

Serving code builds these from the wire requests and hands them to the TritonClient; only
triton_openai.frontend.triton.tensors turns them into tensors. A field left None (or at its
default) is not sent, so the model's own default applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TextPrompt:
    """A prompt tokenized as it is (completions)."""

    text: str


@dataclass(frozen=True)
class ChatPrompt:
    """Chat messages for the model's chat template, as templates take them, with the tools it
    may call and the template's extra variables; a vision model also takes the images, encoded,
    in the order of the messages' `{"type": "image"}` parts."""

    messages: Sequence[Mapping[str, Any]]
    tools: Sequence[Mapping[str, Any]] | None = None
    template_kwargs: Mapping[str, Any] | None = None
    images: Sequence[bytes] = ()


# A generation's prompt: a text, chat messages (the model renders and tokenizes them), or token ids.
Prompt = list[int] | TextPrompt | ChatPrompt


@dataclass(frozen=True)
class Guide:
    """A constraint on the output (triton_openai.models.llm.guided): its type (`json_object`,
    `json_schema`, `regex`, `choice`, `grammar`, `lark`) and its text (a schema, a pattern, a
    JSON list of choices, a grammar; empty for any JSON object)."""

    type: str
    text: str = ""


@dataclass(frozen=True)
class Sampling:
    """How one choice samples: every parameter the llm model takes (None: the model's default,
    from its generation_config.json or the engine's own)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    min_tokens: int = 0
    ignore_eos: bool = False
    stop: Sequence[str] = ()
    stop_token_ids: Sequence[int] = ()
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True
    logprobs: int | None = None  # alternatives per token to report (0..20); None: no logprobs
    logit_bias: Mapping[int, float] = field(default_factory=dict)  # token id -> bias added to its logit
    seed: int | None = None  # None: the engine draws one
    guide: Guide | None = None


@dataclass(frozen=True)
class LoraAdapter:
    """A LoRA adapter the engine loads by name from its folder on first use."""

    name: str
    path: str


@dataclass(frozen=True)
class GenerationJob:
    """One choice to generate: its prompt, its sampling, the LoRA adapter it runs through, and
    the server's limit on prompt tokens where it is below the context (the model refuses a
    longer prompt with context_length_exceeded)."""

    prompt: Prompt
    sampling: Sampling = field(default_factory=Sampling)
    lora: LoraAdapter | None = None
    max_prompt_tokens: int | None = None


@dataclass(frozen=True)
class TokenizeJob:
    """A prompt for the model's tokenizer: a text as it is, or messages through the chat template."""

    prompt: TextPrompt | ChatPrompt
    add_special_tokens: bool | None = None  # None: true for a text, false for messages (the template adds them)
    add_generation_prompt: bool = True  # messages: open the assistant's turn
    continue_final_message: bool = False  # messages: leave the last message open instead
    return_token_strs: bool = False  # also answer each token's vocabulary entry


@dataclass(frozen=True)
class EmbeddingJob:
    """Rows to embed, each a text or token ids."""

    inputs: Sequence[str] | Sequence[Sequence[int]]
    truncate_prompt_tokens: int | None = None  # -1: cut each row at the model's limit, n: its first n tokens
    dimensions: int | None = None  # a shorter vector (Matryoshka models)


@dataclass(frozen=True)
class TranscriptionJob:
    """An audio file to transcribe (or translate into English)."""

    audio: bytes
    task: str = "transcribe"  # or translate
    language: str | None = None  # ISO 639-1; None: detected
    prompt: str | None = None
    temperature: float | None = None
    word_timestamps: bool = False


@dataclass(frozen=True)
class SpeechJob:
    """A text to speak."""

    text: str
    voice: str
    response_format: str  # mp3, opus, aac, flac, wav, pcm
    speed: float = 1.0


@dataclass(frozen=True)
class ImageJob:
    """Images to generate from a prompt."""

    prompt: str
    width: int
    height: int
    n: int = 1
    steps: int | None = None  # denoising steps; None: the model's default
    negative_prompt: str | None = None
    guidance_scale: float | None = None
    seed: int | None = None  # image i uses seed + i
    output_format: str = "png"  # png, jpeg, webp
