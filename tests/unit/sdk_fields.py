"""Checking a wire type's fields against the official SDK's type for the same object."""

from __future__ import annotations

from typing import Any


def assert_sdk_fields(ours: Any, theirs: Any, *, only_known: bool = False) -> None:
    """Ours has every field the SDK requires; with `only_known`, no field the SDK does not know."""
    required = {name for name, field in theirs.model_fields.items() if field.is_required()}
    assert required <= set(ours.model_fields), f"{ours.__name__} lacks {required - set(ours.model_fields)}"
    if only_known:
        unknown = set(ours.model_fields) - {"type"} - set(theirs.model_fields)
        assert not unknown, f"{ours.__name__} has fields the SDK does not know: {unknown}"
