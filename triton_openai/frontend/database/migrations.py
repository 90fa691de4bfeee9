"""The versioned schema: `migrations/NNNN_name.sql`, applied in order at start, once per database.

`schema_migrations` records the versions applied. Every frontend process (pods, workers)
migrates when it starts; they take one transaction-level advisory lock first, so the first
applies what is missing and the others, waiting on the lock, find it applied. A migration
runs in that same transaction: it is applied whole or not at all. A database migrated by a
newer release (versions this one does not know) is used as it is.

A new store adds one file here with the next number.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

logger = logging.getLogger(__name__)

LOCK = (0x7472_6974, 1)  # pg_advisory_xact_lock(classid, objid) of migrations ("trit")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The schema's migrations, in version order."""
    found = []
    for entry in (resources.files(__package__) / "migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if len({m.version for m in found}) != len(found):
        raise RuntimeError("two migrations share a version number")
    return found


async def migrate(connection: Any, known: list[Migration] | None = None) -> list[int]:
    """Apply the missing migrations on an autocommit connection; the versions applied now."""
    applied_now = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", LOCK)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cursor = await connection.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cursor.fetchall()}
        for migration in known if known is not None else migrations():
            if migration.version in done:
                continue
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (migration.version, migration.name)
            )
            applied_now.append(migration.version)
            logger.info("database migration %04d_%s applied", migration.version, migration.name)
    return applied_now
