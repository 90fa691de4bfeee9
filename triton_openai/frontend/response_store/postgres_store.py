"""The response store on PostgreSQL (`responses`, migration 0005), shared by every frontend:
a response stored through one is retrieved, continued or cancelled through any other.

The contract is ResponseStore's (triton_openai.frontend.response_store.store). Each call is
one statement or one transaction: a put that meets another owner's id changes nothing (the
upsert's condition), settling is one conditional update on the stored status, and a put
drops what is past retention (by age, then beyond the count, oldest first) in its transaction.
"""

from __future__ import annotations

import time

from psycopg.types.json import Json

from triton_openai.frontend.database.postgres import Database
from triton_openai.frontend.response_store.store import RUNNING, ResponseNotFound, Retention, StoredResponse, valid_id


class PostgresResponseStore:
    def __init__(self, database: Database, retention: Retention) -> None:
        self.database = database
        self.retention = retention

    async def put(self, stored: StoredResponse) -> None:
        async with self.database.connection() as db:
            cursor = await db.execute(
                "INSERT INTO responses (id, owner, created_at, response, input_items, context) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET response = excluded.response, "
                "input_items = excluded.input_items, context = excluded.context "
                "WHERE responses.owner = excluded.owner",
                (
                    stored.id,
                    stored.owner,
                    stored.created_at,
                    Json(stored.response),
                    Json(stored.input_items),
                    Json(stored.context),
                ),
            )
            if cursor.rowcount == 0:  # the id is another owner's
                raise ResponseNotFound(stored.id)
            await db.execute("DELETE FROM responses WHERE created_at < %s", (self._oldest_kept(),))
            await db.execute(
                "DELETE FROM responses WHERE seq <= (SELECT seq FROM responses ORDER BY seq DESC LIMIT 1 OFFSET %s)",
                (self.retention.max_count,),
            )

    def _oldest_kept(self) -> int:
        return int(time.time()) - self.retention.max_age_s

    async def settle(self, stored: StoredResponse) -> bool:
        async with self.database.connection() as db:
            cursor = await db.execute(
                "UPDATE responses SET response = %s, context = %s WHERE id = %s AND owner = %s "
                "AND response ->> 'status' = ANY(%s)",
                (Json(stored.response), Json(stored.context), stored.id, stored.owner, list(RUNNING)),
            )
            return cursor.rowcount > 0

    async def get(self, owner: str, response_id: str) -> StoredResponse:
        if not valid_id(response_id):
            raise ResponseNotFound(response_id)
        async with self.database.connection() as db:
            cursor = await db.execute(
                "SELECT id, owner, created_at, response, input_items, context FROM responses "
                "WHERE id = %s AND owner = %s AND created_at >= %s",
                (response_id, owner, self._oldest_kept()),
            )
            row = await cursor.fetchone()
        if row is None:
            raise ResponseNotFound(response_id)
        return StoredResponse(row[0], row[1], int(row[2]), row[3], row[4], row[5])

    async def delete(self, owner: str, response_id: str) -> None:
        if not valid_id(response_id):
            raise ResponseNotFound(response_id)
        async with self.database.connection() as db:
            cursor = await db.execute("DELETE FROM responses WHERE id = %s AND owner = %s", (response_id, owner))
            if cursor.rowcount == 0:
                raise ResponseNotFound(response_id)
