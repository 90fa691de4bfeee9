"""Giving freed host memory back to the system when the engine goes idle.

PyTorch's CPU tensors come from glibc's malloc. A busy batch frees many mid-sized blocks
(KV buffers, activations) that glibc keeps in its arenas, so a server that has served a
burst stays at the burst's size while idle. `malloc_trim(0)` returns the free pages of
every arena. Not glibc (musl, macOS): nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Hand the allocator's free pages back to the system; whether anything could be done."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
