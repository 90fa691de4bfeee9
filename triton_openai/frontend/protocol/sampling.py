"""Generation fields shared by chat and completions requests, and their conversion.

OpenAI's own fields come first; then those vLLM-style servers and h2oGPT accept
(`top_k`, `min_p`, `repetition_penalty`, `min_tokens`, `ignore_eos`, ...), which the
OpenAI SDK sends through `extra_body`.
"""

from __future__ import annotations

import secrets

from pydantic import Field, NonNegativeInt, ValidationInfo, field_validator, model_validator

from triton_openai.frontend.protocol.common import RequestModel, StreamOptions
from triton_openai.frontend.triton.jobs import Guide, Sampling

MAX_STOP_SEQUENCES = 4
MAX_LOGIT_BIAS = 100.0
_UINT64 = (1 << 64) - 1


class SamplingFields(RequestModel):
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    n: int = Field(1, ge=1, le=128)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    seed: int | None = Field(None, ge=-(1 << 63), le=_UINT64)
    user: str | None = None
    # Token id (a string, as JSON keys are) -> bias added to its logit. The engine checks
    # the ids against the model's vocabulary.
    logit_bias: dict[str, float] | None = None

    # Extensions (vLLM, h2oGPT), sent through the SDK's extra_body.
    top_k: int | None = Field(None, ge=-1)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    repetition_penalty: float | None = Field(None, gt=0.0)
    min_tokens: int = Field(0, ge=0)
    ignore_eos: bool = False
    stop_token_ids: list[NonNegativeInt] | None = None
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True

    @field_validator("stop")
    @classmethod
    def _check_stop(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        if len(stops) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences are allowed")
        if any(s == "" for s in stops):
            raise ValueError("stop sequences must not be empty")
        return stops

    @field_validator("stream_options")
    @classmethod
    def _stream_options_need_stream(cls, value: StreamOptions | None, info: ValidationInfo) -> StreamOptions | None:
        if value is not None and not info.data.get("stream"):
            raise ValueError("allowed only when stream is true")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _check_logit_bias(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for key, bias in (value or {}).items():
            if not (key.strip().isascii() and key.strip().isdigit()) or int(key) >= 2**31:
                raise ValueError(f"keys must be token ids (non-negative integers), not {key!r}")
            if not -MAX_LOGIT_BIAS <= bias <= MAX_LOGIT_BIAS:
                raise ValueError(f"the bias of token {key} must be in [-100, 100], not {bias}")
        return value

    @model_validator(mode="after")
    def _check_min_tokens(self) -> SamplingFields:
        limit = self.output_limit()
        if limit is not None and self.min_tokens > limit:
            raise ValueError("min_tokens must not exceed max_tokens")
        return self

    def output_limit(self) -> int | None:
        return self.max_tokens

    def logprobs_count(self) -> int | None:
        """How many alternatives per token to report (None: no logprobs)."""
        return None

    def prompt_characters(self) -> int:
        """Characters of the longest prompt's text, a lower bound of what is tokenized (0: none)."""
        return 0

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    @property
    def continuous_usage(self) -> bool:
        """vLLM's stream_options.continuous_usage_stats: every chunk carries the usage so far
        (with include_usage only; its choice's prompt and completion tokens)."""
        return self.include_usage and bool(self.stream_options and self.stream_options.continuous_usage_stats)

    def choice_seeds(self) -> list[int]:
        """One seed per choice. An omitted seed, or 0 as in h2oGPT, means a fresh random one."""
        base = secrets.randbits(63) if not self.seed else self.seed & _UINT64
        return [(base + i) & _UINT64 for i in range(self.n)]

    def sampling(self, guide: Guide | None = None) -> Sampling:
        """The llm model's sampling for this request (None: the model's default). Each choice
        gets its own seed (`choice_seeds`)."""
        return Sampling(
            max_tokens=self.output_limit(),
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            frequency_penalty=self.frequency_penalty,
            presence_penalty=self.presence_penalty,
            repetition_penalty=self.repetition_penalty,
            min_tokens=self.min_tokens,
            ignore_eos=self.ignore_eos,
            stop=tuple(self.stop or ()),
            stop_token_ids=tuple(self.stop_token_ids or ()),
            include_stop_str_in_output=self.include_stop_str_in_output,
            skip_special_tokens=self.skip_special_tokens,
            logprobs=self.logprobs_count(),
            logit_bias={int(key): value for key, value in (self.logit_bias or {}).items()},
            guide=guide,
        )
