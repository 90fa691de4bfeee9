"""Grammar-constrained decoding with llguidance: JSON (schema), regex, choice, grammars.

A guide is compiled into an LLMatcher once and kept (LRU); each request gets a copy,
which masks the tokens its grammar does not allow at every step and stops the request
when the grammar is complete. Guide types follow TensorRT-LLM's names, plus a few more:

    json, json_object   any JSON object
    json_schema         a JSON schema
    regex               a regular expression
    choice              a JSON list of strings; the output is one of them
    grammar, ebnf_grammar, lark
                        a Lark or GBNF grammar
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import llguidance
import llguidance.hf
import torch

from triton_openai.models.llm.params import InvalidRequest

_FORMATS = {
    "json": "json_schema",
    "json_object": "json_schema",
    "json_schema": "json_schema",
    "regex": "regex",
    "choice": "choice",
    "grammar": "grammar",
    "ebnf_grammar": "grammar",
    "lark": "lark",
}
_ANY_OBJECT = '{"type": "object"}'
# One line, with the separators models see most: no runs of whitespace to wander into.
_COMPACT_JSON = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}


class GuideCompiler:
    """Builds (and caches) a fresh matcher for a guide."""

    def __init__(self, tokenizer: Any, vocab_size: int, cache_size: int = 256) -> None:
        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
        self._compiled: OrderedDict[tuple[str, str], llguidance.LLMatcher] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def matcher(self, guide_type: str, guide: str) -> llguidance.LLMatcher:
        key = (guide_type, guide)
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is not None:
                self._compiled.move_to_end(key)
                return compiled.deep_copy()
        compiled = self._compile(guide_type, guide)
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > self._cache_size:
                self._compiled.popitem(last=False)
        return compiled.deep_copy()

    def _compile(self, guide_type: str, guide: str) -> llguidance.LLMatcher:
        if guide_type not in _FORMATS:
            raise InvalidRequest(f"unknown guided decoding type {guide_type!r}; use one of {', '.join(_FORMATS)}")
        if guide_type in ("json", "json_object") and not guide.strip():
            guide = _ANY_OBJECT
        if _FORMATS[guide_type] in ("json_schema", "choice"):
            _check_json(guide_type, guide)
        if _FORMATS[guide_type] == "json_schema":
            guide = _compact(guide)
        try:
            grammar = llguidance.grammar_from(_FORMATS[guide_type], guide)
        except ValueError as exc:
            raise InvalidRequest(f"invalid {guide_type}: {exc}") from exc
        error = llguidance.LLMatcher.validate_grammar(grammar, self._tokenizer)
        if error:
            raise InvalidRequest(f"invalid {guide_type}: {error.strip()}")
        matcher = llguidance.LLMatcher(self._tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise InvalidRequest(f"invalid {guide_type}: {matcher.get_error()}")
        return matcher


def _check_json(guide_type: str, guide: str) -> None:
    try:
        value = json.loads(guide)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the {guide_type} guide is not valid JSON: {exc}") from exc
    if guide_type == "choice" and not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise InvalidRequest("the choice guide must be a non-empty JSON list of strings")


def _compact(schema_json: str) -> str:
    """Single-line JSON output, unless the schema sets llguidance's own options."""
    schema = json.loads(schema_json)
    if not isinstance(schema, dict) or "x-guidance" in schema:
        return schema_json
    return json.dumps({**schema, "x-guidance": _COMPACT_JSON})


def apply_grammar(logits: torch.Tensor, matchers: list[llguidance.LLMatcher | None]) -> None:
    """Mask, in place, the tokens each row's grammar does not allow next (None: no grammar).

    llguidance writes one bit per token into an int32 bitmask. We unpack it with plain
    tensor ops (llguidance.torch would torch.compile a kernel, i.e. need a C++ compiler
    and a compile at the first guided request).
    """
    rows = [i for i, m in enumerate(matchers) if m is not None]
    if not rows:
        return
    words = (logits.shape[1] + 31) // 32
    bitmask = torch.empty((len(rows), words), dtype=torch.int32)
    for j, i in enumerate(rows):
        matcher = matchers[i]
        assert matcher is not None
        matcher.unsafe_compute_mask_ptr(bitmask[j].data_ptr(), words * 4)
    bits = (bitmask.unsqueeze(-1) >> torch.arange(32, dtype=torch.int32)) & 1
    allowed = bits.reshape(len(rows), words * 32)[:, : logits.shape[1]].bool().to(logits.device)
    index = torch.tensor(rows, device=logits.device)
    logits[index] = logits[index].masked_fill(~allowed, float("-inf"))
