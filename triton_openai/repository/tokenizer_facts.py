"""What the frontend learns about a model's tokenizer and chat template at build time.

- `max_chars_per_token`: no token stands for more characters than this, so a prompt of
  more than `context × max_chars_per_token` characters cannot fit and is refused before it
  is tokenized (tokenizing megabytes takes seconds). Read from tokenizer.json without
  loading a tokenizer: a vocabulary entry is spelled with at least as many characters as
  its text has (byte-level entries spell one character per byte, SentencePiece's '▁' is
  one space, WordPiece adds '##'). A normalizer may merge characters (NFC) or drop them
  (accent stripping), which would break the bound: composing ones widen it, dropping ones
  turn it off (0).
- `reasoning_parser`: "think" when the chat template speaks `<think>…</think>` (DeepSeek
  R1, Qwen3, QwQ...), so the frontend splits reasoning from the answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Normalizers that never turn several characters into fewer.
_KEEPS_LENGTH = frozenset({"Prepend", "Replace", "Lowercase", "NFD", "NFKD"})
# Normalizers that compose characters: a character of the result may be a few of the input.
_COMPOSES = frozenset({"NFC", "NFKC"})
_COMPOSE_FACTOR = 4


def max_chars_per_token(model_dir: str | Path) -> int:
    """The bound described above; 0 when it cannot be known (no tokenizer.json, a dropping normalizer)."""
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        return 0
    spec = json.loads(path.read_text(encoding="utf-8"))
    factor = _normalizer_factor(spec.get("normalizer"))
    vocab = (spec.get("model") or {}).get("vocab") or {}
    # BPE and WordPiece keep {entry: id}; Unigram keeps [[entry, score], ...].
    entries = list(vocab) if isinstance(vocab, dict) else [entry[0] for entry in vocab]
    entries += [token.get("content", "") for token in spec.get("added_tokens") or ()]
    longest = max((len(entry) for entry in entries), default=0)
    return longest * factor


def _normalizer_factor(normalizer: Any) -> int:
    if not normalizer:
        return 1
    kind = normalizer.get("type")
    if kind == "Sequence":
        factors = [_normalizer_factor(n) for n in normalizer.get("normalizers") or ()]
        return 0 if 0 in factors else max(factors, default=1)
    if kind in _KEEPS_LENGTH:
        return 1
    return _COMPOSE_FACTOR if kind in _COMPOSES else 0


def reasoning_parser(chat_template: str) -> str:
    return "think" if "</think>" in chat_template or "<think>" in chat_template else ""
