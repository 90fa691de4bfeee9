"""Which LoRA adapters the API serves, by name: `--lora name=folder` from the start, and those
loaded at run time (`/v1/load_lora_adapter`), kept where every frontend process sees them:
`AdapterFile`, a JSON file beside the embedded files store (the workers of one host;
triton_openai.frontend.watched_file reads it again), or triton_openai.frontend.lora_postgres.PostgresAdapters (every
frontend on one database).

The engine loads an adapter's weights itself on first use (triton_openai.models.llm.lora); this is only the
name -> (folder, base model) table.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from triton_openai.frontend.watched_file import WatchedFile


@dataclass(frozen=True)
class Adapter:
    name: str
    path: str
    base: str | None  # None: the first text generation model


def parse_lora_flags(values: list[str]) -> dict[str, Adapter]:
    """`name=folder` items (also comma-separated) as adapters; ValueError names a bad one."""
    adapters = {}
    for item in (part.strip() for value in values for part in value.split(",")):
        if not item:
            continue
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--lora takes name=folder, not {item!r}")
        adapters[name.strip()] = Adapter(name.strip(), str(Path(path.strip()).expanduser()), None)
    return adapters


def _parse_file(text: str) -> dict[str, Adapter]:
    data = json.loads(text or "{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object of adapters")
    return {name: Adapter(name, entry["path"], entry.get("base")) for name, entry in data.items()}


class RuntimeAdapters(Protocol):
    """The adapters loaded at run time, wherever they are kept."""

    async def current(self, fresh: bool = False) -> dict[str, Adapter]:
        """The adapters by name: read again when `fresh` or when the last read is a second old;
        the last ones read while the store cannot be reached (so requests for models go on)."""

    async def add(self, adapter: Adapter) -> None:
        """Keep the adapter (replacing one of that name)."""

    async def remove(self, name: str) -> None:
        """Forget the adapter if it is there."""


class AdapterTable:
    """The `--lora` adapters (`static`, which stay) over the runtime ones."""

    def __init__(self, static: dict[str, Adapter], runtime: RuntimeAdapters) -> None:
        self.static = static
        self.runtime = runtime

    async def all(self, fresh: bool = False) -> dict[str, Adapter]:
        return {**await self.runtime.current(fresh), **self.static}

    async def add(self, adapter: Adapter) -> None:
        await self.runtime.add(adapter)

    async def remove(self, name: str) -> None:
        await self.runtime.remove(name)


class AdapterFile:
    """Runtime adapters in `lora-adapters.json` in a folder that the workers of one host share."""

    def __init__(self, state_dir: str | Path) -> None:
        self._file = WatchedFile(Path(state_dir) / "lora-adapters.json", _parse_file, {}, "LoRA adapters")

    async def current(self, fresh: bool = False) -> dict[str, Adapter]:
        return self._file.refresh() if fresh else self._file.current()

    async def add(self, adapter: Adapter) -> None:
        with self._editing() as adapters:
            adapters[adapter.name] = adapter

    async def remove(self, name: str) -> None:
        with self._editing() as adapters:
            adapters.pop(name, None)

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Adapter]]:
        """The runtime table to change under an exclusive lock (workers edit it too); written atomically."""
        path = self._file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            adapters = dict(self._file.refresh())
            yield adapters
            handle, temporary = tempfile.mkstemp(prefix=".lora-", dir=path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({a.name: {"path": a.path, "base": a.base} for a in adapters.values()}, out, indent=1)
            os.replace(temporary, path)
            self._file.refresh()
