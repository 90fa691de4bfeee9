"""Chunks of documents with their embeddings, searched by vector, per owner and collection.

`SqliteVecIndex` keeps everything in `<dir>/documents.sqlite3` (WAL and a busy timeout,
so several frontend workers share it): a `files` table with each file's ingestion status,
a `chunks` table with the chunks' text, and one sqlite-vec `vec0` table per embedding
dimension (`vec_384`, ...) holding the vectors under the chunk's id, partitioned by owner
and compared by cosine distance. A collection holds vectors of one dimension only (one
embedding model); a search never reads another owner's partition, and joins back on the
owner as well.

A file's ingestion is a small state machine that a caller can show as progress:
`start_file` (in_progress, no chunks) -> `set_progress` while its chunks are embedded ->
`add_file` (processed: all its chunks searchable at once, in one transaction) or
`fail_file` (error, with the message). So a file's chunks are searchable exactly while it
is processed, never half of them.

`SqliteVecIndex`'s methods block (SQLite, numpy) and each opens its own connection, so
threads may call it at once; `ThreadedIndex` puts it behind the async `VectorIndex`, each
call on a thread. `triton_openai.frontend.documents.pgvector_index.PgVectorIndex` is the same index on
PostgreSQL, shared by several frontends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from triton_openai.frontend.sqlite_wal import connect, use_wal

Status = Literal["in_progress", "processed", "error"]
MAX_TOP_K = 4096  # sqlite-vec's limit on k
MAX_DIMENSION = 8192

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    owner TEXT NOT NULL,
    collection TEXT NOT NULL,
    file_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    status TEXT NOT NULL,
    chunks_done INTEGER NOT NULL,
    chunks_total INTEGER NOT NULL,
    error TEXT,
    dimension INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner, collection, file_id)
);
CREATE INDEX IF NOT EXISTS files_by_id ON files (owner, file_id);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    collection TEXT NOT NULL,
    file_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks (owner, collection, file_id, chunk_index);
"""
_FILE_COLUMNS = "file_id, filename, collection, status, chunks_done, chunks_total, error, updated_at"


class FileNotIndexed(LookupError):
    """The owner has no such file in that collection (or it is no longer being ingested)."""


@dataclass(frozen=True)
class IndexedFile:
    file_id: str
    filename: str
    collection: str
    status: Status
    chunks_done: int
    chunks_total: int
    error: str | None  # the message, when status is "error"
    updated_at: int


@dataclass(frozen=True)
class Hit:
    file_id: str
    filename: str
    chunk_index: int
    text: str
    distance: float  # cosine distance: 0 for the same direction, up to 2


class VectorIndex(Protocol):
    """What a document index does, whatever keeps the vectors. Every method is scoped to one owner."""

    async def start_file(
        self, owner: str, collection: str, file_id: str, filename: str, chunks_total: int
    ) -> IndexedFile:
        """Mark the file in_progress with 0 of chunks_total done, dropping chunks it had in the collection."""

    async def set_progress(self, owner: str, collection: str, file_id: str, chunks_done: int) -> IndexedFile:
        """Record how many chunks are embedded; FileNotIndexed if the file is not in progress (deleted meanwhile)."""

    async def add_file(
        self, owner: str, collection: str, file_id: str, texts: Sequence[str], vectors: Any
    ) -> IndexedFile:
        """Store the started file's chunks with their vectors (n x dimension float32) and mark it processed.

        FileNotIndexed if the file is not in progress; ValueError if the vectors do not fit the
        texts or the collection's dimension.
        """

    async def fail_file(self, owner: str, collection: str, file_id: str, message: str) -> None:
        """Mark an in-progress file as failed with the message (nothing happens if it is gone)."""

    async def get_file(self, owner: str, collection: str, file_id: str) -> IndexedFile:
        """The file's status; FileNotIndexed unless the owner has it in that collection."""

    async def list_files(self, owner: str, collection: str) -> list[IndexedFile]:
        """The owner's files in the collection, by filename, whatever their status."""

    async def delete_file(self, owner: str, file_id: str) -> bool:
        """Remove the file and its chunks from all the owner's collections; whether it was in any."""

    async def remove_file(self, owner: str, collection: str, file_id: str) -> bool:
        """Remove the file and its chunks from one collection; whether it was there."""

    async def file_chunks(
        self, owner: str, collection: str, file_ids: Sequence[str] | None = None, limit: int = 10_000
    ) -> list[Hit]:
        """The processed files' chunks in reading order (file by file), distance 0: what a summary reads."""

    async def search(
        self, owner: str, collection: str, vector: Any, top_k: int, file_ids: Sequence[str] | None = None
    ) -> list[Hit]:
        """The top_k chunks nearest the vector, nearest first, among the collection's (or these) files."""


class SqliteVecIndex:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._database = self.directory / "documents.sqlite3"
        self._sqlite = _sqlite_module()
        with self._connect() as db:
            use_wal(db)
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        import sqlite_vec

        db = connect(self._sqlite, self._database)
        try:
            db.enable_load_extension(True)
            sqlite_vec.load(db)
            db.enable_load_extension(False)
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Any]:
        """One write transaction, taken at once so that workers queue instead of failing to upgrade a read lock."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def start_file(self, owner: str, collection: str, file_id: str, filename: str, chunks_total: int) -> IndexedFile:
        if chunks_total < 0:
            raise ValueError("chunks_total must not be negative")
        with self._write() as db:
            _drop_chunks(db, owner, collection, file_id)
            db.execute(
                "INSERT INTO files (owner, collection, file_id, filename, status, chunks_done, chunks_total, error,"
                " dimension, updated_at) VALUES (?, ?, ?, ?, 'in_progress', 0, ?, NULL, NULL, ?)"
                " ON CONFLICT (owner, collection, file_id) DO UPDATE SET filename = excluded.filename,"
                " status = 'in_progress', chunks_done = 0, chunks_total = excluded.chunks_total, error = NULL,"
                " dimension = NULL, updated_at = excluded.updated_at",
                (owner, collection, file_id, filename, chunks_total, int(time.time())),
            )
            return _file(db, owner, collection, file_id)

    def set_progress(self, owner: str, collection: str, file_id: str, chunks_done: int) -> IndexedFile:
        if chunks_done < 0:
            raise ValueError("chunks_done must not be negative")
        with self._write() as db:
            _in_progress(db, owner, collection, file_id)
            db.execute(
                "UPDATE files SET chunks_done = ?, updated_at = ? WHERE owner = ? AND collection = ? AND file_id = ?",
                (chunks_done, int(time.time()), owner, collection, file_id),
            )
            return _file(db, owner, collection, file_id)

    def add_file(self, owner: str, collection: str, file_id: str, texts: Sequence[str], vectors: Any) -> IndexedFile:
        matrix = chunk_vectors(texts, vectors)
        dimension = matrix.shape[1]
        with self._write() as db:
            _in_progress(db, owner, collection, file_id)
            other = db.execute(
                "SELECT dimension FROM files WHERE owner = ? AND collection = ? AND dimension IS NOT NULL LIMIT 1",
                (owner, collection),
            ).fetchone()
            if other is not None:
                check_dimension(collection, other[0], dimension)
            table = _vector_table(db, dimension)
            for index, (text, row) in enumerate(zip(texts, matrix, strict=True)):
                chunk_id = db.execute(
                    "INSERT INTO chunks (owner, collection, file_id, chunk_index, text) VALUES (?, ?, ?, ?, ?)",
                    (owner, collection, file_id, index, text),
                ).lastrowid
                db.execute(
                    f"INSERT INTO {table} (rowid, embedding, owner, collection, file_id) VALUES (?, ?, ?, ?, ?)",
                    (chunk_id, row.tobytes(), owner, collection, file_id),
                )
            db.execute(
                "UPDATE files SET status = 'processed', chunks_done = ?, chunks_total = ?, dimension = ?,"
                " updated_at = ? WHERE owner = ? AND collection = ? AND file_id = ?",
                (len(texts), len(texts), dimension, int(time.time()), owner, collection, file_id),
            )
            return _file(db, owner, collection, file_id)

    def fail_file(self, owner: str, collection: str, file_id: str, message: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE files SET status = 'error', error = ?, updated_at = ?"
                " WHERE owner = ? AND collection = ? AND file_id = ? AND status = 'in_progress'",
                (message, int(time.time()), owner, collection, file_id),
            )

    def get_file(self, owner: str, collection: str, file_id: str) -> IndexedFile:
        with self._connect() as db:
            return _file(db, owner, collection, file_id)

    def list_files(self, owner: str, collection: str) -> list[IndexedFile]:
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {_FILE_COLUMNS} FROM files WHERE owner = ? AND collection = ? ORDER BY filename, file_id",
                (owner, collection),
            ).fetchall()
        return [IndexedFile(*row) for row in rows]

    def delete_file(self, owner: str, file_id: str) -> bool:
        with self._write() as db:
            collections = [
                row[0]
                for row in db.execute(
                    "SELECT collection FROM files WHERE owner = ? AND file_id = ?", (owner, file_id)
                ).fetchall()
            ]
            for collection in collections:
                _drop_chunks(db, owner, collection, file_id)
            db.execute("DELETE FROM files WHERE owner = ? AND file_id = ?", (owner, file_id))
        return bool(collections)

    def remove_file(self, owner: str, collection: str, file_id: str) -> bool:
        with self._write() as db:
            _drop_chunks(db, owner, collection, file_id)
            removed = db.execute(
                "DELETE FROM files WHERE owner = ? AND collection = ? AND file_id = ?", (owner, collection, file_id)
            ).rowcount
        return bool(removed)

    def file_chunks(
        self, owner: str, collection: str, file_ids: Sequence[str] | None = None, limit: int = 10_000
    ) -> list[Hit]:
        if file_ids is not None and not file_ids:
            return []
        only, values = "", [owner, collection]
        if file_ids is not None:
            only = f" AND f.file_id IN ({', '.join('?' * len(file_ids))})"
            values.extend(file_ids)
        with self._connect() as db:
            rows = db.execute(
                "SELECT f.file_id, f.filename, c.chunk_index, c.text, 0.0 FROM files AS f"
                " JOIN chunks AS c ON c.owner = f.owner AND c.collection = f.collection AND c.file_id = f.file_id"
                f" WHERE f.owner = ? AND f.collection = ? AND f.status = 'processed'{only}"
                " ORDER BY f.filename, f.file_id, c.chunk_index LIMIT ?",
                (*values, limit),
            ).fetchall()
        return [Hit(*row) for row in rows]

    def search(
        self, owner: str, collection: str, vector: Any, top_k: int, file_ids: Sequence[str] | None = None
    ) -> list[Hit]:
        query = query_vector(vector, top_k)
        if file_ids is not None and not file_ids:
            return []
        with self._connect() as db:
            row = db.execute(
                "SELECT dimension FROM files WHERE owner = ? AND collection = ? AND dimension IS NOT NULL LIMIT 1",
                (owner, collection),
            ).fetchone()
            if row is None:
                return []  # nothing processed in this collection yet
            check_dimension(collection, row[0], query.shape[0], query=True)
            only, values = "", [query.tobytes(), top_k, owner, collection]
            if file_ids is not None:
                only = f" AND file_id IN ({', '.join('?' * len(file_ids))})"
                values.extend(file_ids)
            rows = db.execute(
                "SELECT f.file_id, f.filename, c.chunk_index, c.text, v.distance FROM"
                f" (SELECT rowid, distance FROM vec_{row[0]} WHERE embedding MATCH ? AND k = ? AND owner = ?"
                f" AND collection = ?{only}) AS v"
                " JOIN chunks AS c ON c.id = v.rowid"
                " JOIN files AS f ON f.owner = c.owner AND f.collection = c.collection AND f.file_id = c.file_id"
                " WHERE c.owner = ? ORDER BY v.distance, c.id",
                (*values, owner),
            ).fetchall()
        return [Hit(*row) for row in rows]


def _sqlite_module() -> Any:
    """The standard library's sqlite3 where it can load extensions, else pysqlite3 (its own SQLite, which can)."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        from pysqlite3 import dbapi2
    except ImportError:
        raise RuntimeError(
            "this Python's sqlite3 cannot load extensions (sqlite-vec): install pysqlite3-binary, "
            "or use a Python built with --enable-loadable-sqlite-extensions"
        ) from None
    return dbapi2


class ThreadedIndex:
    """A blocking index (SqliteVecIndex) as the async VectorIndex: each call runs on a thread."""

    def __init__(self, blocking: SqliteVecIndex) -> None:
        self.blocking = blocking

    def __getattr__(self, name: str) -> Any:
        if name not in _INDEX_METHODS:
            raise AttributeError(name)
        method = getattr(self.blocking, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


_INDEX_METHODS = frozenset(name for name in vars(VectorIndex) if not name.startswith("_"))


# -- what every index checks the same way ------------------------------------------------------


def chunk_vectors(texts: Sequence[str], vectors: Any) -> np.ndarray:
    """The chunks' vectors as float32 rows, one per text; ValueError if they do not fit."""
    matrix = _vectors(vectors)
    if not texts or matrix.shape[0] != len(texts):
        raise ValueError(f"{len(texts)} chunks need as many vectors (one a row); got {matrix.shape[0]}")
    return matrix


def query_vector(vector: Any, top_k: int) -> np.ndarray:
    """A search's one vector (float32) after checking it and top_k."""
    query = _vectors([vector] if np.ndim(vector) == 1 else vector)
    if query.shape[0] != 1:
        raise ValueError("search takes one vector")
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
    return query[0]


def check_dimension(collection: str, held: int, given: int, query: bool = False) -> None:
    """ValueError unless vectors of `given` dimensions fit a collection holding `held`."""
    if held == given:
        return
    if query:
        raise ValueError(f"collection {collection!r} holds vectors of dimension {held}; the query has {given}")
    raise ValueError(
        f"collection {collection!r} holds vectors of dimension {held}, these have {given}: "
        "a collection takes the embeddings of one model"
    )


def _vectors(vectors: Any) -> np.ndarray:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or not 1 <= matrix.shape[1] <= MAX_DIMENSION:
        raise ValueError(f"vectors must be rows of 1 to {MAX_DIMENSION} numbers; got shape {matrix.shape}")
    if not np.isfinite(matrix).all() or not np.linalg.norm(matrix, axis=1).all():
        raise ValueError("vectors must be finite and not all zero (a cosine distance needs a direction)")
    return matrix


def _vector_table(db: Any, dimension: int) -> str:
    table = f"vec_{int(dimension)}"
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0(embedding float[{int(dimension)}]"
        " distance_metric=cosine, owner text partition key, collection text, file_id text)"
    )
    return table


def _drop_chunks(db: Any, owner: str, collection: str, file_id: str) -> None:
    row = db.execute(
        "SELECT dimension FROM files WHERE owner = ? AND collection = ? AND file_id = ?", (owner, collection, file_id)
    ).fetchone()
    ids = db.execute(
        "SELECT id FROM chunks WHERE owner = ? AND collection = ? AND file_id = ?", (owner, collection, file_id)
    ).fetchall()
    if row is not None and row[0] is not None:
        db.executemany(f"DELETE FROM vec_{int(row[0])} WHERE rowid = ?", ids)
    db.execute("DELETE FROM chunks WHERE owner = ? AND collection = ? AND file_id = ?", (owner, collection, file_id))


def _in_progress(db: Any, owner: str, collection: str, file_id: str) -> None:
    row = db.execute(
        "SELECT status FROM files WHERE owner = ? AND collection = ? AND file_id = ?", (owner, collection, file_id)
    ).fetchone()
    if row is None or row[0] != "in_progress":
        raise FileNotIndexed(f"file {file_id!r} is not being ingested into collection {collection!r}")


def _file(db: Any, owner: str, collection: str, file_id: str) -> IndexedFile:
    row = db.execute(
        f"SELECT {_FILE_COLUMNS} FROM files WHERE owner = ? AND collection = ? AND file_id = ?",
        (owner, collection, file_id),
    ).fetchone()
    if row is None:
        raise FileNotIndexed(f"no file {file_id!r} in collection {collection!r}")
    return IndexedFile(*row)
