"""ServingDocuments: files turned into searchable chunks (ingestion) and searched (retrieval).

Collections, as h2oGPT names them: `UserData` (also `MyData`) holds the caller's own
documents, apart per API key / user; any other name is a collection shared by every caller,
filled through `POST /v1/collections/{name}/files`. Files uploaded with purpose `assistants`
or `user_data` go into the uploader's `UserData` by themselves.

Ingestion runs in the background of the worker that took the request: the text is
extracted and chunked on a thread, the chunks are embedded by the Triton embeddings model
in batches (awaited, so the event loop keeps serving), and the index records progress,
which the file object shows as its `status`. The index is behind `VectorIndex`; the
embedded one is sqlite-vec (triton_openai.frontend.documents.index), the shared one pgvector
(triton_openai.frontend.documents.pgvector_index). With a database server, an ingestion that meets an
outage waits for the database and goes on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from triton_openai.frontend import errors
from triton_openai.frontend.documents.chunk import chunk_text
from triton_openai.frontend.documents.index import FileNotIndexed, Hit, IndexedFile, VectorIndex
from triton_openai.frontend.documents.parse import DocumentError, extract_text
from triton_openai.frontend.files.store import FileNotFound, FileStore, StoredFile
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import ModelKind, TritonClient
from triton_openai.frontend.triton.jobs import EmbeddingJob

logger = logging.getLogger(__name__)
T = TypeVar("T")

USER_DATA = "UserData"
PERSONAL = (USER_DATA, "MyData")  # h2oGPT's names for the caller's own documents
NO_DOCUMENTS = ("LLM", "Disabled")  # h2oGPT's modes without documents
SHARED_OWNER = "@shared"  # the index owner of the shared collections
INGEST_PURPOSES = ("assistants", "user_data")
EMBED_BATCH = 64  # chunks per embeddings request
MAX_TEXT = 50_000_000  # characters of one document
OUTAGE_WAIT_S = 600.0  # how long an ingestion waits for the database to come back
RETRY_S = 1.0
_COLLECTION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Scope:
    """Where a collection lives in the index: its owner there and its name."""

    owner: str
    collection: str


def scope(owner: str, collection: str) -> Scope:
    if collection in PERSONAL:
        return Scope(owner, USER_DATA)
    if not _COLLECTION.match(collection) or collection in NO_DOCUMENTS:
        raise errors.InvalidRequest(
            f"collection {collection[:80]!r} is not a collection name (letters, digits, _ . -, at most 64)",
            param="langchain_mode",
        )
    return Scope(SHARED_OWNER, collection)


class ServingDocuments:
    def __init__(
        self,
        engine: TritonClient,
        registry: ModelRegistry,
        index: VectorIndex,
        files: FileStore,
        chunk_size: int = 1000,
        chunk_overlap: int = 100,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.index = index
        self.files = files
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._tasks: set[asyncio.Task[None]] = set()

    # -- ingestion ------------------------------------------------------------------------

    async def ingest(
        self,
        owner: str,
        file_id: str,
        collection: str = USER_DATA,
        chunk_size: int | None = None,
        stored: StoredFile | None = None,
    ) -> IndexedFile:
        """Start ingesting one of the owner's files (`stored`, when the caller has it) into a
        collection; returns its in_progress status."""
        where = scope(owner, collection)
        if stored is None:
            try:
                stored = await self.files.get(owner, file_id)
            except FileNotFound:
                raise errors.ObjectNotFound(f"No such File object: {file_id[:64]}", param="file_id") from None
        size = chunk_size or self.chunk_size
        if not 100 <= size <= 100_000:
            raise errors.InvalidRequest("chunk_size must be between 100 and 100000 characters", param="chunk_size")
        try:
            started = await self.index.start_file(where.owner, where.collection, file_id, stored.filename, 0)
        except errors.DatabaseUnavailable:
            # The file is stored: an error now would have the client upload it again. The
            # background ingestion starts it in the index once the database is back.
            started = IndexedFile(file_id, stored.filename, where.collection, "in_progress", 0, 0, None, 0)
        task = asyncio.create_task(self._ingest(owner, where, file_id, stored.filename, size))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return started

    async def _ingest(self, owner: str, where: Scope, file_id: str, filename: str, size: int) -> None:
        key = (where.owner, where.collection, file_id)
        try:
            data = await _through_outages(self.files.read, owner, file_id)
            text = await asyncio.to_thread(extract_text, filename, data)
            if len(text) > MAX_TEXT:
                raise DocumentError(f"{filename}: the text has over {MAX_TEXT} characters")
            chunks = await asyncio.to_thread(chunk_text, text, size, min(self.chunk_overlap, size // 4))
            if not chunks:
                raise DocumentError(f"{filename}: no text to index")
            texts = [chunk.text for chunk in chunks]
            await _through_outages(self.index.start_file, *key, filename, len(texts))
            vectors = []
            for start in range(0, len(texts), EMBED_BATCH):
                vectors.append(await self._embed(texts[start : start + EMBED_BATCH]))
                done = min(start + EMBED_BATCH, len(texts))
                await _through_outages(self.index.set_progress, *key, done)
            await _through_outages(self.index.add_file, *key, texts, np.vstack(vectors))
        except FileNotIndexed:
            return  # deleted while it was being ingested
        except (DocumentError, FileNotFound, errors.APIError, ValueError) as exc:
            await self._fail(key, exc.message if isinstance(exc, errors.APIError) else str(exc))
        except Exception as exc:  # noqa: BLE001 - recorded on the file; the server goes on
            logger.exception("ingesting %s failed", file_id)
            await self._fail(key, f"ingestion failed: {type(exc).__name__}: {exc}")

    async def _fail(self, key: tuple[str, str, str], message: str) -> None:
        try:
            await _through_outages(self.index.fail_file, *key, message)
        except errors.DatabaseUnavailable:
            logger.error("ingesting %s failed (%s), and the database is unavailable to record it", key[2], message)

    async def _embed(self, texts: list[str]) -> np.ndarray:
        model = await self.registry.resolve(None, ModelKind.EMBEDDINGS)
        vectors, _ = await self.engine.embed(model, EmbeddingJob(texts, truncate_prompt_tokens=-1))
        return np.asarray(vectors, dtype=np.float32)

    # -- status and removal ---------------------------------------------------------------

    async def status(self, owner: str) -> dict[str, IndexedFile]:
        """The owner's UserData files by id (what the file objects show as their status)."""
        return {f.file_id: f for f in await self.index.list_files(owner, USER_DATA)}

    async def list(self, owner: str, collection: str) -> list[IndexedFile]:
        where = scope(owner, collection)
        return await self.index.list_files(where.owner, where.collection)

    async def remove(self, owner: str, collection: str, file_id: str) -> None:
        """Take one of the owner's files out of a collection (404 unless it is there)."""
        where = scope(owner, collection)
        try:
            await self.files.get(owner, file_id)  # only a file's owner takes it out of a shared collection
        except FileNotFound:
            raise errors.ObjectNotFound(f"No such File object: {file_id[:64]}", param="file_id") from None
        if not await self.index.remove_file(where.owner, where.collection, file_id):
            raise errors.ObjectNotFound(f"File {file_id} is not in collection {collection!r}", param="file_id")

    async def forget(self, owner: str, file_id: str) -> None:
        """A deleted file: its chunks leave the owner's collections and the shared ones."""
        await self.index.delete_file(owner, file_id)
        await self.index.delete_file(SHARED_OWNER, file_id)

    # -- retrieval ------------------------------------------------------------------------

    async def search(
        self, owner: str, collection: str, query: str, top_k: int, file_ids: list[str] | None = None
    ) -> list[Hit]:
        where = scope(owner, collection)
        vector = (await self._embed([query]))[0]
        try:
            return await self.index.search(where.owner, where.collection, vector, top_k, file_ids)
        except ValueError as exc:  # e.g. a collection made with another embedding model
            raise errors.InvalidRequest(str(exc), param="langchain_mode") from None

    async def chunks(self, owner: str, collection: str, file_ids: list[str] | None = None) -> list[Hit]:
        where = scope(owner, collection)
        return await self.index.file_chunks(where.owner, where.collection, file_ids)

    async def file_ids(self, owner: str, collection: str, choice: list[str]) -> list[str]:
        """h2oGPT's document_choice (file ids or filenames; `All` for every file) as file ids."""
        if not choice or "All" in choice:
            return []
        known = await self.list(owner, collection)
        ids = [f.file_id for f in known if f.file_id in choice or f.filename in choice]
        if not ids:
            raise errors.InvalidRequest(
                f"document_choice names no file of collection {collection!r}", param="document_choice"
            )
        return ids


async def _through_outages(step: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`step(*args)`, tried again while the database is unavailable (up to OUTAGE_WAIT_S): an
    ingestion in the background resumes where it was when the database comes back."""
    deadline = time.monotonic() + OUTAGE_WAIT_S
    while True:
        try:
            return await step(*args)
        except errors.DatabaseUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(RETRY_S)
