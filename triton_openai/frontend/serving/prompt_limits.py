"""Refusing prompts that cannot fit: by their length in characters before tokenizing, by
their token count after.

Tokenizing a prompt of megabytes takes seconds of the preprocessing model's time; a prompt
longer than `limit × max_chars_per_token` characters (the model's bound, triton_openai.repository.tokenizer_facts)
cannot fit whatever its tokens, so it is refused at once. One that passes is tokenized and
refused on its count before it goes to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from triton_openai.frontend import errors
from triton_openai.frontend.triton.base import ServedModel

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"


@dataclass(frozen=True)
class PromptLimit:
    """The most prompt tokens a request may send: the context, or the server's --max-prompt-tokens."""

    tokens: int  # 0: unknown (no check)
    by_server: bool = False

    @classmethod
    def of(cls, model: ServedModel, max_prompt_tokens: int) -> PromptLimit:
        context = model.max_model_len or 0
        if max_prompt_tokens and (not context or max_prompt_tokens < context):
            return cls(max_prompt_tokens, by_server=True)
        return cls(context)

    def _describe(self) -> str:
        if self.by_server:
            return f"this server takes at most {self.tokens} prompt tokens"
        return f"This model's maximum context length is {self.tokens} tokens"

    def check_characters(self, model: ServedModel, characters: int) -> None:
        """Refuse a prompt of more characters than `tokens` tokens can hold."""
        per_token = model.max_chars_per_token
        if self.tokens and per_token and characters > self.tokens * per_token:
            raise errors.InvalidRequest(
                f"{self._describe()}; the prompt has {characters} characters, more than {self.tokens} tokens "
                f"of this model hold (at most {per_token} characters each). Please reduce the length of the prompt.",
                code=CONTEXT_LENGTH_EXCEEDED,
            )

    def check_tokens(self, tokens: int) -> None:
        """Refuse a prompt of more tokens than the limit (the context: as many as it, leaving no room)."""
        over = tokens > self.tokens if self.by_server else tokens >= self.tokens
        if self.tokens and over:
            if self.by_server:
                message = f"the prompt has {tokens} tokens; {self._describe()}"
            else:
                message = f"{self._describe()}; the prompt has {tokens}, leaving no room for a completion."
            raise errors.InvalidRequest(message, code=CONTEXT_LENGTH_EXCEEDED)
