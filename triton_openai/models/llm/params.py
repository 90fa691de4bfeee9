"""Per-request generation parameters and their validation."""

from __future__ import annotations

from dataclasses import dataclass, field

GREEDY_TEMPERATURE = 1e-5
MAX_LOGIT_BIAS = 100.0  # OpenAI's range: -100 (never) to 100 (always)


class InvalidRequest(ValueError):
    """A request the engine cannot serve as asked (the client's fault: HTTP 400)."""


class ContextLengthExceeded(InvalidRequest):
    """A prompt (with the tokens asked for) longer than the context or the server's limit."""


class EngineOverloaded(RuntimeError):
    """The waiting queue is full; the client should retry later (HTTP 429)."""


@dataclass(frozen=True)
class SamplingParams:
    """What a request asks of the sampler and of the stop conditions.

    `max_tokens=None` means "up to the context window", or up to `default_max_tokens`
    (the model's generation_config.json cap) where that is set; unlike an asked-for
    `max_tokens`, the default is cut to the room the context leaves. `seed=None` means a
    fresh random seed. `top_k=0` and `top_p=1` and `min_p=0` disable those filters.
    """

    max_tokens: int | None = None
    default_max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    seed: int | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0
    min_tokens: int = 0
    ignore_eos: bool = False
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True
    logit_bias: dict[int, float] = field(default_factory=dict)
    guide_type: str = ""  # triton_openai.models.llm.guided: json, json_schema, regex, choice, grammar...
    guide: str = ""
    logprobs: int | None = None  # None: none; k: the chosen token's and k alternatives'

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_TEMPERATURE or self.top_k == 1

    @property
    def uses_penalties(self) -> bool:
        return bool(self.frequency_penalty or self.presence_penalty or self.repetition_penalty != 1.0)

    def validate(self) -> None:
        """Raise InvalidRequest naming the first parameter that is out of range."""
        checks = [
            (self.max_tokens is None or self.max_tokens >= 1, "max_tokens", "must be at least 1"),
            (0.0 <= self.temperature, "temperature", "must be non-negative"),
            (0.0 < self.top_p <= 1.0, "top_p", "must be in (0, 1]"),
            (self.top_k >= -1, "top_k", "must be -1, 0 (off) or a positive integer"),
            (0.0 <= self.min_p <= 1.0, "min_p", "must be in [0, 1]"),
            (-2.0 <= self.frequency_penalty <= 2.0, "frequency_penalty", "must be in [-2, 2]"),
            (-2.0 <= self.presence_penalty <= 2.0, "presence_penalty", "must be in [-2, 2]"),
            (self.repetition_penalty > 0.0, "repetition_penalty", "must be positive"),
            (self.min_tokens >= 0, "min_tokens", "must be non-negative"),
            (
                self.max_tokens is None or self.min_tokens <= self.max_tokens,
                "min_tokens",
                "must not exceed max_tokens",
            ),
            (all(self.stop), "stop", "must not contain empty strings"),
            (
                all(-MAX_LOGIT_BIAS <= bias <= MAX_LOGIT_BIAS for bias in self.logit_bias.values()),
                "logit_bias",
                f"values must be in [{-MAX_LOGIT_BIAS:g}, {MAX_LOGIT_BIAS:g}]",
            ),
            (self.logprobs is None or 0 <= self.logprobs <= 20, "top_logprobs", "must be in [0, 20]"),
        ]
        for ok, name, message in checks:
            if not ok:
                raise InvalidRequest(f"{name} {message}")

    def check_vocabulary(self, vocab_size: int) -> None:
        """Raise InvalidRequest if logit_bias names a token the model does not have."""
        unknown = sorted(i for i in self.logit_bias if not 0 <= i < vocab_size)
        if unknown:
            shown = ", ".join(map(str, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
            raise InvalidRequest(f"logit_bias names token ids outside the vocabulary [0, {vocab_size}): {shown}")

    def output_limit(self, room: int) -> int:
        """How many tokens to generate at most, given the `room` the context leaves."""
        if self.max_tokens is not None:
            return self.max_tokens
        if self.default_max_tokens is not None:
            return min(room, max(self.default_max_tokens, self.min_tokens))
        return room
