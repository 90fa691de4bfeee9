"""Refusing prompts that cannot fit, by their length in characters, before they are tokenized.

Tokenizing a prompt of megabytes takes seconds of the llm model's tokenizer threads; a prompt
longer than `limit × max_chars_per_token` characters (the model's bound,
triton_openai.repository.tokenizer_facts) cannot fit whatever its tokens, so it is refused at
once. One that passes is tokenized by the llm model, which refuses it on its token count (the
context, or the server's limit that the generation job carries).
"""

from __future__ import annotations

from dataclasses import dataclass

from triton_openai.frontend import errors
from triton_openai.frontend.triton.base import ServedModel


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
                code=errors.CONTEXT_LENGTH_EXCEEDED,
            )
