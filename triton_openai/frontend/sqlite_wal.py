"""SQLite databases that several frontend workers share: WAL mode, switched on once per file.

Two workers that open a new database together both read it and both want the write lock
to change its journal mode; SQLite refuses one of them at once ("database is locked")
rather than wait, since waiting there could deadlock. `use_wal` retries until the other
has switched the file, which then stays in WAL mode for every later connection.
"""

from __future__ import annotations

import time
from typing import Any

BUSY_TIMEOUT_S = 30.0  # how long a connection waits for another worker's write lock


def connect(sqlite_module: Any, path: Any) -> Any:
    """A connection in autocommit mode (transactions are explicit) that waits on busy locks."""
    return sqlite_module.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def use_wal(db: Any) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except db.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
