"""/v1/completions: request, response and stream chunk types."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from triton_openai.frontend.protocol.common import ResponseModel, Usage
from triton_openai.frontend.protocol.sampling import SamplingFields
from triton_openai.frontend.protocol.structured import CompletionLogprobs, GuidedFields


class CompletionRequest(SamplingFields, GuidedFields):
    prompt: str | list[str] | list[int] | list[list[int]]  # text, or token ids (as OpenAI takes them)
    # OpenAI's default for completions (unlike chat) is 16 tokens.
    max_tokens: int | None = Field(16, ge=1)
    echo: bool = False
    suffix: str | None = None
    logprobs: int | None = Field(None, ge=0, le=5)
    best_of: int | None = Field(None, ge=1)

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, prompt: str | list) -> str | list:
        if isinstance(prompt, list) and (not prompt or any(isinstance(p, list) and not p for p in prompt)):
            raise ValueError("prompt must not be an empty list")
        return prompt

    @model_validator(mode="after")
    def _check_unsupported(self) -> CompletionRequest:
        if self.best_of is not None and self.best_of != self.n:
            raise ValueError("best_of different from n is not supported")
        if self.suffix:
            raise ValueError("suffix is not supported by this server")
        if self.echo and any(not isinstance(p, str) for p in self.prompts()):
            raise ValueError("echo needs text prompts; it is not supported with token id prompts")
        return self

    def logprobs_count(self) -> int | None:
        return self.logprobs

    def prompt_characters(self) -> int:
        return max((len(p) for p in self.prompts() if isinstance(p, str)), default=0)

    def prompts(self) -> list[str | list[int]]:
        """Each prompt: text, or a list of token ids."""
        if isinstance(self.prompt, str) or (self.prompt and isinstance(self.prompt[0], int)):
            return [self.prompt]
        return list(self.prompt)


class CompletionChoice(ResponseModel):
    index: int
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: str | None = None
    stop_reason: int | str | None = None  # vLLM's: the stop string that ended the output (on every chunk)


class CompletionResponse(ResponseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
