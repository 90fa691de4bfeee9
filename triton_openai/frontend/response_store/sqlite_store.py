"""The embedded response store: one SQLite database beside the files store.

`<files dir>/responses.sqlite3`, in WAL mode so that every frontend worker of the host sees
the same responses. Each row holds the response object, its input items and the context a
continuation starts from, as JSON; a background response's status is read from it with
json_extract, so that finishing and cancelling are single conditional updates. Writes drop
what is past retention (older than the age limit, or beyond the count limit, oldest first)
in the same transaction. Blocking work runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from triton_openai.frontend.response_store.store import RUNNING, ResponseNotFound, Retention, StoredResponse, valid_id
from triton_openai.frontend.sqlite_wal import connect, use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    response TEXT NOT NULL,
    input_items TEXT NOT NULL,
    context TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_by_seq ON responses (seq);
CREATE INDEX IF NOT EXISTS responses_by_age ON responses (created_at);
"""


class SQLiteResponseStore:
    def __init__(self, directory: str | Path, retention: Retention) -> None:
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.retention = retention
        self._database = self.directory / "responses.sqlite3"
        with self._connect() as db:
            use_wal(db)
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(sqlite3, self._database)

    async def put(self, stored: StoredResponse) -> None:
        await asyncio.to_thread(self._put, stored)

    def _put(self, stored: StoredResponse) -> None:
        row = (
            stored.id,
            stored.owner,
            stored.created_at,
            json.dumps(stored.response),
            json.dumps(stored.input_items),
            json.dumps(stored.context),
        )
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            taken = db.execute("SELECT owner FROM responses WHERE id = ?", (stored.id,)).fetchone()
            if taken is not None and taken[0] != stored.owner:
                db.execute("ROLLBACK")
                raise ResponseNotFound(stored.id)
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM responses").fetchone()[0]
            db.execute(
                "INSERT INTO responses (id, owner, created_at, response, input_items, context, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET response = excluded.response, "
                "input_items = excluded.input_items, context = excluded.context",
                (*row, seq),
            )
            self._evict(db)
            db.execute("COMMIT")

    def _evict(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM responses WHERE created_at < ?", (self._oldest_kept(),))
        db.execute(
            "DELETE FROM responses WHERE seq <= (SELECT seq FROM responses ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (self.retention.max_count,),
        )

    def _oldest_kept(self) -> int:
        return int(time.time()) - self.retention.max_age_s

    async def settle(self, stored: StoredResponse) -> bool:
        return await asyncio.to_thread(self._settle, stored)

    def _settle(self, stored: StoredResponse) -> bool:
        with self._connect() as db:
            changed = db.execute(
                "UPDATE responses SET response = ?, context = ? WHERE id = ? AND owner = ? "
                f"AND json_extract(response, '$.status') IN ({', '.join('?' * len(RUNNING))})",
                (json.dumps(stored.response), json.dumps(stored.context), stored.id, stored.owner, *RUNNING),
            ).rowcount
        return bool(changed)

    async def get(self, owner: str, response_id: str) -> StoredResponse:
        return await asyncio.to_thread(self._get, owner, response_id)

    def _get(self, owner: str, response_id: str) -> StoredResponse:
        if not valid_id(response_id):
            raise ResponseNotFound(response_id)
        with self._connect() as db:
            row = db.execute(
                "SELECT id, owner, created_at, response, input_items, context FROM responses "
                "WHERE id = ? AND owner = ? AND created_at >= ?",
                (response_id, owner, self._oldest_kept()),
            ).fetchone()
        if row is None:
            raise ResponseNotFound(response_id)
        return StoredResponse(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]), json.loads(row[5]))

    async def delete(self, owner: str, response_id: str) -> None:
        await asyncio.to_thread(self._delete, owner, response_id)

    def _delete(self, owner: str, response_id: str) -> None:
        if not valid_id(response_id):
            raise ResponseNotFound(response_id)
        with self._connect() as db:
            deleted = db.execute("DELETE FROM responses WHERE id = ? AND owner = ?", (response_id, owner)).rowcount
        if not deleted:
            raise ResponseNotFound(response_id)
