"""Incremental detokenization with the default model's real tokenizer."""

import pytest

from triton_openai.models.llm.detokenizer import IncrementalDetokenizer

TEXTS = [
    "Hello 世界! 🎉👍🏽 naïve café — 日本語のテキスト",
    "한국어 문장과 emoji 🇫🇷🏳️‍🌈 mixed with   spaces  and\ttabs\n",
    "    def f(x):\n        return x ** 2  # ✓",
]


@pytest.mark.parametrize("text", TEXTS)
def test_streamed_pieces_join_to_the_exact_text(tokenizer, text):
    prompt = tokenizer.encode("Copy this:", add_special_tokens=False)
    ids = tokenizer.encode(text, add_special_tokens=False)
    detokenizer = IncrementalDetokenizer(tokenizer, prompt)
    pieces = [detokenizer.step(i) for i in ids]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_special_tokens_are_skipped(tokenizer):
    detokenizer = IncrementalDetokenizer(tokenizer, [1])
    ids = tokenizer.encode("Hi", add_special_tokens=False) + [tokenizer.eos_token_id]
    assert "".join(detokenizer.step(i) for i in ids) == "Hi"
