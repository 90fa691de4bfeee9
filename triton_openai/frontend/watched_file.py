"""A small file the server reads again when it changes (API keys, user accounts).

Changes are noticed by the file's mtime and size, looked at most once per `recheck`
seconds, so keys rotate and accounts appear without a restart, in every worker. A file
that cannot be read or parsed (half written, a typo) keeps the last good contents and
logs why; a missing file reads as `empty` until it appears. `strict` starts: a file that
is there but broken stops the start instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
RECHECK_SECONDS = 1.0


class WatchedFile(Generic[T]):
    def __init__(self, path: str | Path, parse: Callable[[str], T], empty: T, what: str, strict: bool = False) -> None:
        self.path = Path(path).expanduser()
        self._parse = parse
        self._value = empty
        self._what = what
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        if strict:
            self.refresh(strict=True)

    def current(self) -> T:
        """The contents, read again first if the file may have changed."""
        if time.monotonic() - self._checked >= RECHECK_SECONDS:
            self.refresh()
        return self._value

    def refresh(self, strict: bool = False) -> T:
        """Look at the file now; `strict`: raise SystemExit when it is missing or broken."""
        with self._lock:
            self._checked = time.monotonic()
            try:
                stat = self.path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
                if stamp != self._stamp:
                    self._value = self._parse(self.path.read_text(encoding="utf-8"))
                    self._stamp = stamp
                    logger.info("%s read from %s", self._what, self.path)
            except FileNotFoundError:
                if strict:
                    raise SystemExit(f"{self._what} file {self.path} does not exist") from None
            except (OSError, ValueError) as exc:
                if strict:
                    raise SystemExit(f"{self._what} file {self.path}: {exc}") from None
                logger.error("keeping the previous %s: cannot read %s: %s", self._what, self.path, exc)
            return self._value
