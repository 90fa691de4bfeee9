"""Schemathesis hooks for the fuzz run (loaded through SCHEMATHESIS_HOOKS).

Generated bodies keep their shape but ask for little work, so that a bounded run covers
many requests on a 2-core CI machine: a few tokens per completion (chat, completions,
responses, messages), short speech input.
`before_call` runs before every request of every phase (`map_body` misses the coverage phase).
"""

from __future__ import annotations

from typing import Any

import schemathesis

_CAPS = {"max_tokens": 8, "max_completion_tokens": 8, "max_output_tokens": 8, "n": 2, "best_of": 2}
_GENERATING = ("/v1/chat/completions", "/v1/completions")
_RESPONSES = "/v1/responses"
_MAX_SPEECH_CHARS = 80


def _capped(value: Any, cap: int) -> Any:
    # Numbers only (pydantic takes 1885.0 as an int); other types stay for the server to refuse.
    return min(value, cap) if isinstance(value, int | float) and not isinstance(value, bool) else value


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    body, path = case.body, case.operation.path
    if not isinstance(body, dict):
        return
    for key, cap in _CAPS.items():
        if key in body:
            body[key] = _capped(body[key], cap)
    if path in _GENERATING and body.get("max_completion_tokens") is None and body.get("max_tokens") is None:
        body["max_tokens"] = _CAPS["max_tokens"]  # absent or null: up to the context length
    if path == _RESPONSES and body.get("max_output_tokens") is None:
        body["max_output_tokens"] = _CAPS["max_output_tokens"]
    if path == "/v1/audio/speech" and isinstance(body.get("input"), str):
        body["input"] = body["input"][:_MAX_SPEECH_CHARS]
