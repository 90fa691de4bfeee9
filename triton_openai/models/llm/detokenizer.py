"""Incremental detokenization that never splits a character or loses a space.

Decoding token by token breaks multi-byte UTF-8 (CJK, emoji) and the leading spaces of
SentencePiece tokens. `tokenizers.decoders.DecodeStream` keeps per-request state and
yields text only once it is valid; we prime it with the end of the prompt so the first
generated token decodes with its proper leading space.
"""

from __future__ import annotations

from typing import Any

from tokenizers.decoders import DecodeStream

_PRIME_TOKENS = 4


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, prompt_ids: list[int], skip_special_tokens: bool = True) -> None:
        # `tokenizer` is a transformers fast tokenizer; DecodeStream needs the Rust one.
        self._backend = tokenizer._tokenizer if hasattr(tokenizer, "_tokenizer") else tokenizer
        self._stream = DecodeStream(list(prompt_ids[-_PRIME_TOKENS:]), skip_special_tokens)

    def step(self, token_id: int) -> str:
        """The text that `token_id` completes; '' while a character is incomplete."""
        return self._stream.step(self._backend, token_id) or ""
