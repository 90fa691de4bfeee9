"""What goes into the engine (GenerationRequest) and what comes out (GenerationOutput)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from triton_openai.models.llm.logprobs import TokenLogprob
from triton_openai.models.llm.params import SamplingParams

# Why a sequence ended. "stop": EOS, a stop token or a stop string; "length": max_tokens
# or the context window; "cancelled": the client went away; "error": the engine failed.
FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_CANCELLED = "cancelled"
FINISH_ERROR = "error"


@dataclass
class GenerationOutput:
    """One step of a request's output: the new text and tokens since the last output."""

    text: str
    token_ids: list[int]
    num_prompt_tokens: int
    num_output_tokens: int
    finish_reason: str | None = None
    stop_reason: str | int | None = None
    error: str | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    num_cached_tokens: int = 0  # prompt tokens whose keys and values came from the prefix cache

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass(frozen=True)
class VisionPrompt:
    """A vision model's prompt: chat messages (JSON) whose image parts are placeholders,
    with the images' encoded bytes in order; or a plain text prompt; or token ids."""

    messages_json: str = ""
    tools_json: str | None = None
    images: tuple[bytes, ...] = ()
    text: str = ""
    token_ids: tuple[int, ...] = ()


@dataclass
class GenerationRequest:
    """A tokenized prompt to continue, with a callback for its outputs.

    `on_output` is called from the engine thread, once per produced step and a last
    time with `finish_reason` set. `is_cancelled` is polled between steps.
    """

    request_id: str
    prompt_ids: list[int]
    params: SamplingParams
    on_output: Callable[[GenerationOutput], None]
    is_cancelled: Callable[[], bool] = lambda: False
    lora_name: str = ""  # a LoRA adapter to apply (triton_openai.models.llm.lora), loaded from lora_path if it is not
    lora_path: str = ""
