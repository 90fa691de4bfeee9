"""The files store on PostgreSQL, shared by every frontend: metadata in `files`, bytes in
`file_parts` (bytea, PART_BYTES each), schema in triton_openai/frontend/database/migrations/0001_files.sql.

An upload is one transaction: the quota check, the row and every part commit together or
not at all, so an upload cut off half-way (a client gone, the database down) leaves no row
and no part. The quota check holds a transaction-level advisory lock on the owner, so two
frontends cannot both fit an upload into the same room. Downloads read one part per
query, so a slow client holds no connection.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Literal

from triton_openai.frontend.database.postgres import Database
from triton_openai.frontend.files.store import FileNotFound, QuotaExceeded, StoredFile, valid_id

PART_BYTES = 1024 * 1024
QUOTA_LOCK = 0x7472_6974 + 1  # advisory lock class of the per-owner quota check
_COLUMNS = "id, owner, filename, purpose, bytes, created_at"


class PostgresFileStore:
    def __init__(self, database: Database, quota_bytes: int) -> None:
        self.database = database
        self.quota_bytes = quota_bytes

    async def create(self, owner: str, filename: str, purpose: str, data: bytes) -> StoredFile:
        stored = StoredFile("file-" + secrets.token_hex(12), owner, filename, purpose, len(data), int(time.time()))
        view = memoryview(data)
        starts = range(0, len(data), PART_BYTES)
        parts = [(stored.id, number, view[start : start + PART_BYTES]) for number, start in enumerate(starts)]
        async with self.database.connection() as db:
            await db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (QUOTA_LOCK, owner))
            cursor = await db.execute("SELECT COALESCE(SUM(bytes), 0) FROM files WHERE owner = %s", (owner,))
            used = int((await cursor.fetchone())[0])
            if used + len(data) > self.quota_bytes:
                raise QuotaExceeded.over(used, len(data), self.quota_bytes)
            await db.execute(
                f"INSERT INTO files ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
                (stored.id, stored.owner, stored.filename, stored.purpose, stored.bytes, stored.created_at),
            )
            async with db.cursor() as insert:
                await insert.executemany("INSERT INTO file_parts (file_id, part, data) VALUES (%s, %s, %s)", parts)
        return stored

    async def list(
        self, owner: str, *, purpose: str | None, limit: int, after: str | None, order: Literal["asc", "desc"]
    ) -> tuple[list[StoredFile], bool]:
        where, values = ["owner = %s"], [owner]
        if purpose:
            where.append("purpose = %s")
            values.append(purpose)
        async with self.database.connection() as db:
            if after:
                cursor = await db.execute("SELECT seq FROM files WHERE id = %s AND owner = %s", (after, owner))
                row = await cursor.fetchone()
                if row is None:
                    raise FileNotFound(after)
                where.append("seq < %s" if order == "desc" else "seq > %s")
                values.append(row[0])
            direction = "DESC" if order == "desc" else "ASC"
            cursor = await db.execute(
                f"SELECT {_COLUMNS} FROM files WHERE {' AND '.join(where)} ORDER BY seq {direction} LIMIT %s",
                (*values, limit + 1),
            )
            rows = await cursor.fetchall()
        return [StoredFile(*r) for r in rows[:limit]], len(rows) > limit

    async def get(self, owner: str, file_id: str) -> StoredFile:
        if not valid_id(file_id):
            raise FileNotFound(file_id)
        async with self.database.connection() as db:
            cursor = await db.execute(f"SELECT {_COLUMNS} FROM files WHERE id = %s AND owner = %s", (file_id, owner))
            row = await cursor.fetchone()
        if row is None:
            raise FileNotFound(file_id)
        return StoredFile(*row)

    async def read(self, owner: str, file_id: str) -> bytes:
        return b"".join([part async for part in self.stream(owner, file_id)])

    async def stream(self, owner: str, file_id: str) -> AsyncIterator[bytes]:
        stored = await self.get(owner, file_id)
        for number in range(-(-stored.bytes // PART_BYTES)):
            async with self.database.connection() as db:
                cursor = await db.execute(
                    "SELECT data FROM file_parts WHERE file_id = %s AND part = %s", (stored.id, number)
                )
                row = await cursor.fetchone()
            if row is None:
                raise FileNotFound(file_id)  # deleted while it was read
            yield bytes(row[0])

    async def delete(self, owner: str, file_id: str) -> None:
        if not valid_id(file_id):
            raise FileNotFound(file_id)
        async with self.database.connection() as db:  # its parts go with it (ON DELETE CASCADE)
            cursor = await db.execute("DELETE FROM files WHERE id = %s AND owner = %s", (file_id, owner))
        if cursor.rowcount == 0:
            raise FileNotFound(file_id)
