"""What goes into the engine (GenerationRequest) and what comes out (GenerationOutput)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from triton_openai.models.llm.params import ContextLengthExceeded, SamplingParams

if TYPE_CHECKING:  # the engine's module needs torch; a tokenizer's process does not load it
    from triton_openai.models.llm.logprobs import TokenLogprob

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
    max_prompt_tokens: int = 0  # a server's limit below the context (0: the context only)

    def check_prompt_limit(self) -> None:
        """Refuse a prompt over the server's limit (the context's is the engine's to check)."""
        if self.max_prompt_tokens and len(self.prompt_ids) > self.max_prompt_tokens:
            raise ContextLengthExceeded(
                f"the prompt has {len(self.prompt_ids)} tokens; "
                f"this server takes at most {self.max_prompt_tokens} prompt tokens"
            )
