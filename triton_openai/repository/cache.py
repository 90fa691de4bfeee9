"""Where slow-to-make things (converted models, the Triton backend folder) are kept.

`$TRITON_OPENAI_CACHE_DIR`, else `$XDG_CACHE_HOME/triton-openai`, else
`~/.cache/triton-openai`. Entries are keyed by what they were made from and by the
version of the code that made them, so an upgrade never reuses a stale one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    if os.environ.get("TRITON_OPENAI_CACHE_DIR"):
        return Path(os.environ["TRITON_OPENAI_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "triton-openai"


def digest(*parts: object, length: int = 12) -> str:
    return hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:length]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (two servers starting at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def building(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target` that becomes `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield scratch
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
