"""The embedded files store: metadata in SQLite, bytes in files beside it.

`<dir>/files.sqlite3` (WAL, so several frontend workers share it) and `<dir>/blobs/<id>`.
Bytes are written to a temporary file in the same folder, synced and renamed into place,
so a crash never leaves a half-written file under a valid id; the metadata row is
written after the bytes, so every listed file has its bytes. Blocking work runs in a
thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

from triton_openai.frontend.files.store import FileNotFound, QuotaExceeded, StoredFile, valid_id
from triton_openai.frontend.sqlite_wal import connect, use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_owner ON files (owner, seq);
"""
_COLUMNS = "id, owner, filename, purpose, bytes, created_at"
READ_BYTES = 1024 * 1024  # a download's parts


class SQLiteFileStore:
    def __init__(self, directory: str | Path, quota_bytes: int) -> None:
        self.directory = Path(directory).expanduser()
        self.blobs = self.directory / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.quota_bytes = quota_bytes
        self._database = self.directory / "files.sqlite3"
        with self._connect() as db:
            use_wal(db)
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(sqlite3, self._database)

    async def create(self, owner: str, filename: str, purpose: str, data: bytes) -> StoredFile:
        return await asyncio.to_thread(self._create, owner, filename, purpose, data)

    def _create(self, owner: str, filename: str, purpose: str, data: bytes) -> StoredFile:
        file_id = "file-" + secrets.token_hex(12)
        self._write_blob(file_id, data)
        stored = StoredFile(file_id, owner, filename, purpose, len(data), int(time.time()))
        try:
            with self._connect() as db:
                db.execute("BEGIN IMMEDIATE")  # the quota check and the insert as one step between workers
                used = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM files WHERE owner = ?", (owner,)).fetchone()[0]
                if used + len(data) > self.quota_bytes:
                    db.execute("ROLLBACK")
                    raise QuotaExceeded.over(used, len(data), self.quota_bytes)
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM files").fetchone()[0]
                db.execute(
                    f"INSERT INTO files ({_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*_row(stored), seq),
                )
                db.execute("COMMIT")
        except BaseException:
            (self.blobs / file_id).unlink(missing_ok=True)
            raise
        return stored

    def _write_blob(self, file_id: str, data: bytes) -> None:
        handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=self.blobs)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.blobs / file_id)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def list(
        self, owner: str, *, purpose: str | None, limit: int, after: str | None, order: Literal["asc", "desc"]
    ) -> tuple[list[StoredFile], bool]:
        return await asyncio.to_thread(self._list, owner, purpose, limit, after, order)

    def _list(
        self, owner: str, purpose: str | None, limit: int, after: str | None, order: str
    ) -> tuple[list[StoredFile], bool]:
        where, values = ["owner = ?"], [owner]
        if purpose:
            where.append("purpose = ?")
            values.append(purpose)
        with self._connect() as db:
            if after:
                row = db.execute("SELECT seq FROM files WHERE id = ? AND owner = ?", (after, owner)).fetchone()
                if row is None:
                    raise FileNotFound(after)
                where.append("seq < ?" if order == "desc" else "seq > ?")
                values.append(row[0])
            direction = "DESC" if order == "desc" else "ASC"
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM files WHERE {' AND '.join(where)} ORDER BY seq {direction} LIMIT ?",
                (*values, limit + 1),
            ).fetchall()
        return [StoredFile(*r) for r in rows[:limit]], len(rows) > limit

    async def get(self, owner: str, file_id: str) -> StoredFile:
        return await asyncio.to_thread(self._get, owner, file_id)

    def _get(self, owner: str, file_id: str) -> StoredFile:
        if not valid_id(file_id):
            raise FileNotFound(file_id)
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM files WHERE id = ? AND owner = ?", (file_id, owner)).fetchone()
        if row is None:
            raise FileNotFound(file_id)
        return StoredFile(*row)

    async def path(self, owner: str, file_id: str) -> Path:
        """Where the bytes are (this store's own; FileStore users read or stream them)."""
        stored = await self.get(owner, file_id)
        return self.blobs / stored.id  # a validated, generated id: no path can be smuggled in

    async def read(self, owner: str, file_id: str) -> bytes:
        return await asyncio.to_thread((await self.path(owner, file_id)).read_bytes)

    async def stream(self, owner: str, file_id: str) -> AsyncIterator[bytes]:
        path = await self.path(owner, file_id)
        with await asyncio.to_thread(path.open, "rb") as blob:
            while part := await asyncio.to_thread(blob.read, READ_BYTES):
                yield part

    async def delete(self, owner: str, file_id: str) -> None:
        await asyncio.to_thread(self._delete, owner, file_id)

    def _delete(self, owner: str, file_id: str) -> None:
        stored = self._get(owner, file_id)
        with self._connect() as db:
            db.execute("DELETE FROM files WHERE id = ? AND owner = ?", (stored.id, owner))
        (self.blobs / stored.id).unlink(missing_ok=True)


def _row(stored: StoredFile) -> tuple:
    return (stored.id, stored.owner, stored.filename, stored.purpose, stored.bytes, stored.created_at)
