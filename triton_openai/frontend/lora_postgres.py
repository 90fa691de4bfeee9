"""Runtime LoRA adapters on PostgreSQL (`lora_adapters`, migration 0003), seen by every frontend.

Each frontend reads the table at most once a second (and at once when a request names a
model it does not know, through `current(fresh=True)`), so an adapter loaded through one
frontend serves through all of them. While the database is down the last adapters read
stay served: chat keeps working; loading and unloading answer 503.
"""

from __future__ import annotations

import logging
import time

from triton_openai.frontend import errors
from triton_openai.frontend.database.postgres import Database
from triton_openai.frontend.lora import Adapter

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 1.0


class PostgresAdapters:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._adapters: dict[str, Adapter] = {}
        self._read_at = float("-inf")

    async def current(self, fresh: bool = False) -> dict[str, Adapter]:
        if fresh or time.monotonic() - self._read_at >= RECHECK_SECONDS:
            self._read_at = time.monotonic()  # one reader at a time; the others take the last table
            try:
                await self._read()
            except errors.DatabaseUnavailable:
                logger.info("database unavailable: serving the LoRA adapters read last")
        return self._adapters

    async def add(self, adapter: Adapter) -> None:
        async with self.database.connection() as db:
            await db.execute(
                "INSERT INTO lora_adapters (name, path, base, created_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET path = excluded.path, base = excluded.base,"
                " created_at = excluded.created_at",
                (adapter.name, adapter.path, adapter.base, int(time.time())),
            )
        await self._read()

    async def remove(self, name: str) -> None:
        async with self.database.connection() as db:
            await db.execute("DELETE FROM lora_adapters WHERE name = %s", (name,))
        await self._read()

    async def _read(self) -> None:
        async with self.database.connection() as db:
            cursor = await db.execute("SELECT name, path, base FROM lora_adapters ORDER BY name")
            rows = await cursor.fetchall()
        self._adapters = {name: Adapter(name, path, base) for name, path, base in rows}
