"""A model's default sampling: what its generation_config.json sets, applied where a request sets nothing.

As vLLM does (`--generation-config auto`): the folder's `temperature`, `top_p`, `top_k`,
`min_p`, `repetition_penalty` and `max_new_tokens` become the defaults of a request that
leaves them out; a request's own value always wins. The build reads the file once and
writes the defaults into the llm model's config (the `generation_defaults` parameter, JSON
with SamplingParams' names), so a Triton serving a built repository needs no model folder
access to apply them; `request_inputs.sampling_params` applies them per request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# generation_config.json's names -> SamplingParams' names (max_tokens is a default cap there).
_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
    "max_new_tokens": "max_tokens",
}
_INTEGERS = frozenset({"top_k", "max_tokens"})

# The setting that says where defaults come from: the model folder's file, or nowhere
# (the engine's own defaults: temperature 1, no filters, up to the context window).
SOURCES = ("auto", "none")


class GenerationConfigError(ValueError):
    """An override names a field that is not a sampling default, or a value of the wrong type."""


def read_defaults(model_dir: str | Path) -> dict[str, Any]:
    """The sampling defaults a model folder's generation_config.json sets (none without the file)."""
    path = Path(model_dir) / "generation_config.json"
    if not path.is_file():
        return {}
    config = json.loads(path.read_text())
    return {ours: config[theirs] for theirs, ours in _FIELDS.items() if config.get(theirs) is not None}


def resolve_defaults(model_dir: str | Path, source: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults to serve: the folder's (source `auto`) or none, then `overrides` on top.

    `overrides` use generation_config.json's names (`max_new_tokens`), as vLLM's
    `--override-generation-config` does; a value of null removes that default.
    """
    if source not in SOURCES:
        raise GenerationConfigError(f"generation config source must be one of {', '.join(SOURCES)}, not {source!r}")
    defaults = read_defaults(model_dir) if source == "auto" else {}
    for theirs, value in overrides.items():
        ours = _FIELDS.get(theirs)
        if ours is None:
            known = ", ".join(_FIELDS)
            raise GenerationConfigError(f"{theirs!r} is not a sampling default; use one of {known}")
        if value is None:
            defaults.pop(ours, None)
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            raise GenerationConfigError(f"{theirs} must be a number, not {value!r}")
        else:
            defaults[ours] = value
    return {name: int(value) if name in _INTEGERS else float(value) for name, value in defaults.items()}
