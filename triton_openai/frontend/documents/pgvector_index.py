"""The document index on PostgreSQL with pgvector, shared by every frontend.

`document_files` holds each file's ingestion status per owner and collection,
`document_chunks` its chunks with their embeddings in a `vector` column (schema in
triton_openai/frontend/database/migrations/0002_documents.sql). It keeps SqliteVecIndex's contract
(triton_openai.frontend.documents.index): one state machine per file, a file's chunks searchable exactly
while it is processed (they are written with the status in one transaction), one vector
dimension per collection, every query scoped to one owner.

A search is exact: the owner's collection is found through a btree index and its chunks
are ordered by cosine distance (`<=>`). An approximate HNSW index would be faster on very
large collections, but pgvector's approximate scans filter after the scan, so a query
scoped to one owner could come back with fewer than top_k chunks, or none.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from triton_openai.frontend.database.postgres import Database
from triton_openai.frontend.documents.index import (
    FileNotIndexed,
    Hit,
    IndexedFile,
    check_dimension,
    chunk_vectors,
    query_vector,
)

COLLECTION_LOCK = 0x7472_6974 + 2  # advisory lock class: one collection's dimension check and insert
_FILE_COLUMNS = "file_id, filename, collection, status, chunks_done, chunks_total, error, updated_at"
_KEY = "owner = %s AND collection = %s AND file_id = %s"


class PgVectorIndex:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def start_file(
        self, owner: str, collection: str, file_id: str, filename: str, chunks_total: int
    ) -> IndexedFile:
        if chunks_total < 0:
            raise ValueError("chunks_total must not be negative")
        async with self.database.connection() as db:
            await db.execute(f"DELETE FROM document_chunks WHERE {_KEY}", (owner, collection, file_id))
            cursor = await db.execute(
                "INSERT INTO document_files (owner, collection, file_id, filename, status, chunks_done, chunks_total,"
                " error, dimension, updated_at) VALUES (%s, %s, %s, %s, 'in_progress', 0, %s, NULL, NULL, %s)"
                " ON CONFLICT (owner, collection, file_id) DO UPDATE SET filename = excluded.filename,"
                " status = 'in_progress', chunks_done = 0, chunks_total = excluded.chunks_total, error = NULL,"
                f" dimension = NULL, updated_at = excluded.updated_at RETURNING {_FILE_COLUMNS}",
                (owner, collection, file_id, filename, chunks_total, int(time.time())),
            )
            return IndexedFile(*await cursor.fetchone())

    async def set_progress(self, owner: str, collection: str, file_id: str, chunks_done: int) -> IndexedFile:
        if chunks_done < 0:
            raise ValueError("chunks_done must not be negative")
        async with self.database.connection() as db:
            cursor = await db.execute(
                f"UPDATE document_files SET chunks_done = %s, updated_at = %s WHERE {_KEY} AND status = 'in_progress'"
                f" RETURNING {_FILE_COLUMNS}",
                (chunks_done, int(time.time()), owner, collection, file_id),
            )
            row = await cursor.fetchone()
        if row is None:
            raise _not_in_progress(collection, file_id)
        return IndexedFile(*row)

    async def add_file(
        self, owner: str, collection: str, file_id: str, texts: Sequence[str], vectors: Any
    ) -> IndexedFile:
        matrix = chunk_vectors(texts, vectors)
        dimension = matrix.shape[1]
        async with self.database.connection() as db:
            lock = (COLLECTION_LOCK, f"{owner}/{collection}")
            await db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", lock)
            cursor = await db.execute(
                f"SELECT status FROM document_files WHERE {_KEY} FOR UPDATE", (owner, collection, file_id)
            )
            row = await cursor.fetchone()
            if row is None or row[0] != "in_progress":
                raise _not_in_progress(collection, file_id)
            held = await _dimension(db, owner, collection)
            if held is not None:
                check_dimension(collection, held, dimension)
            async with db.cursor() as insert:
                await insert.executemany(
                    "INSERT INTO document_chunks (owner, collection, file_id, chunk_index, text, embedding)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (owner, collection, file_id, i, text, vector)
                        for i, (text, vector) in enumerate(zip(texts, matrix, strict=True))
                    ],
                )
            cursor = await db.execute(
                "UPDATE document_files SET status = 'processed', chunks_done = %s, chunks_total = %s, dimension = %s,"
                f" updated_at = %s WHERE {_KEY} RETURNING {_FILE_COLUMNS}",
                (len(texts), len(texts), dimension, int(time.time()), owner, collection, file_id),
            )
            return IndexedFile(*await cursor.fetchone())

    async def fail_file(self, owner: str, collection: str, file_id: str, message: str) -> None:
        async with self.database.connection() as db:
            await db.execute(
                f"UPDATE document_files SET status = 'error', error = %s, updated_at = %s WHERE {_KEY}"
                " AND status = 'in_progress'",
                (message, int(time.time()), owner, collection, file_id),
            )

    async def get_file(self, owner: str, collection: str, file_id: str) -> IndexedFile:
        async with self.database.connection() as db:
            cursor = await db.execute(
                f"SELECT {_FILE_COLUMNS} FROM document_files WHERE {_KEY}", (owner, collection, file_id)
            )
            row = await cursor.fetchone()
        if row is None:
            raise FileNotIndexed(f"no file {file_id!r} in collection {collection!r}")
        return IndexedFile(*row)

    async def list_files(self, owner: str, collection: str) -> list[IndexedFile]:
        async with self.database.connection() as db:
            cursor = await db.execute(
                f"SELECT {_FILE_COLUMNS} FROM document_files WHERE owner = %s AND collection = %s"
                " ORDER BY filename, file_id",
                (owner, collection),
            )
            return [IndexedFile(*row) for row in await cursor.fetchall()]

    async def delete_file(self, owner: str, file_id: str) -> bool:
        async with self.database.connection() as db:  # chunks go with their file (ON DELETE CASCADE)
            cursor = await db.execute("DELETE FROM document_files WHERE owner = %s AND file_id = %s", (owner, file_id))
            return cursor.rowcount > 0

    async def remove_file(self, owner: str, collection: str, file_id: str) -> bool:
        async with self.database.connection() as db:
            cursor = await db.execute(f"DELETE FROM document_files WHERE {_KEY}", (owner, collection, file_id))
            return cursor.rowcount > 0

    async def file_chunks(
        self, owner: str, collection: str, file_ids: Sequence[str] | None = None, limit: int = 10_000
    ) -> list[Hit]:
        if file_ids is not None and not file_ids:
            return []
        only, values = _only(file_ids, "f")
        async with self.database.connection() as db:
            cursor = await db.execute(
                "SELECT f.file_id, f.filename, c.chunk_index, c.text, 0.0::float8 FROM document_files AS f"
                " JOIN document_chunks AS c USING (owner, collection, file_id)"
                f" WHERE f.owner = %s AND f.collection = %s AND f.status = 'processed'{only}"
                " ORDER BY f.filename, f.file_id, c.chunk_index LIMIT %s",
                (owner, collection, *values, limit),
            )
            return [Hit(*row) for row in await cursor.fetchall()]

    async def search(
        self, owner: str, collection: str, vector: Any, top_k: int, file_ids: Sequence[str] | None = None
    ) -> list[Hit]:
        query = query_vector(vector, top_k)
        if file_ids is not None and not file_ids:
            return []
        only, values = _only(file_ids, "c")
        async with self.database.connection() as db:
            held = await _dimension(db, owner, collection)
            if held is None:
                return []  # nothing processed in this collection yet
            check_dimension(collection, held, query.shape[0], query=True)
            cursor = await db.execute(
                "SELECT f.file_id, f.filename, c.chunk_index, c.text, c.embedding <=> %s AS distance"
                " FROM document_chunks AS c JOIN document_files AS f USING (owner, collection, file_id)"
                f" WHERE c.owner = %s AND c.collection = %s AND f.status = 'processed'{only}"
                " ORDER BY distance, c.id LIMIT %s",
                (query, owner, collection, *values, top_k),
            )
            return [Hit(*row) for row in await cursor.fetchall()]


async def _dimension(db: Any, owner: str, collection: str) -> int | None:
    cursor = await db.execute(
        "SELECT dimension FROM document_files WHERE owner = %s AND collection = %s AND dimension IS NOT NULL LIMIT 1",
        (owner, collection),
    )
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


def _only(file_ids: Sequence[str] | None, table: str) -> tuple[str, list[Any]]:
    """The clause (and its value) restricting a query to some files."""
    if file_ids is None:
        return "", []
    return f" AND {table}.file_id = ANY(%s)", [list(file_ids)]


def _not_in_progress(collection: str, file_id: str) -> FileNotIndexed:
    return FileNotIndexed(f"file {file_id!r} is not being ingested into collection {collection!r}")
