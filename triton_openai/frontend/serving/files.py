"""ServingFiles: /v1/files over a FileStore, files kept apart per owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from triton_openai.frontend import errors
from triton_openai.frontend.documents.index import IndexedFile
from triton_openai.frontend.files.store import FileNotFound, FileStore, QuotaExceeded, StoredFile
from triton_openai.frontend.protocol.files import FileDeleted, FileList, FileObject
from triton_openai.frontend.serving.documents import INGEST_PURPOSES, ServingDocuments

MAX_LIST = 10_000  # OpenAI's limit per page


class ServingFiles:
    """With `documents`, files of purpose assistants / user_data are ingested for document Q&A
    as they arrive, their objects show the ingestion's `status`, and deleting one removes its chunks."""

    def __init__(self, store: FileStore, max_file_bytes: int, documents: ServingDocuments | None = None) -> None:
        self.store = store
        self.max_file_bytes = max_file_bytes
        self.documents = documents

    async def create(self, owner: str, filename: str, purpose: str, data: bytes) -> FileObject:
        if len(data) > self.max_file_bytes:
            raise errors.PayloadTooLarge(
                f"file is {len(data)} bytes; at most {self.max_file_bytes} bytes are allowed", param="file"
            )
        if not data:
            raise errors.InvalidRequest("file is empty", param="file")
        try:
            stored = await self.store.create(owner, _clean_name(filename), purpose, data)
        except QuotaExceeded as exc:
            raise errors.InvalidRequest(str(exc), code="quota_exceeded") from None
        if self.documents is None or purpose not in INGEST_PURPOSES:
            return _object(stored)
        return _object(stored, await self.documents.ingest(owner, stored.id, stored=stored))

    async def list(
        self, owner: str, purpose: str | None, limit: int, after: str | None, order: Literal["asc", "desc"]
    ) -> FileList:
        if not 1 <= limit <= MAX_LIST:
            raise errors.InvalidRequest(f"limit must be between 1 and {MAX_LIST}", param="limit")
        try:
            files, more = await self.store.list(owner, purpose=purpose, limit=limit, after=after, order=order)
        except FileNotFound:
            raise errors.InvalidRequest(f"after: no file {after!r}", param="after") from None
        status = await self._status(owner)
        data = [_object(f, status.get(f.id)) for f in files]
        return FileList(
            data=data, first_id=data[0].id if data else None, last_id=data[-1].id if data else None, has_more=more
        )

    async def get(self, owner: str, file_id: str) -> FileObject:
        with _not_found(file_id):
            stored = await self.store.get(owner, file_id)
        return _object(stored, (await self._status(owner)).get(file_id))

    async def _status(self, owner: str) -> dict[str, IndexedFile]:
        return await self.documents.status(owner) if self.documents is not None else {}

    async def content(self, owner: str, file_id: str) -> tuple[StoredFile, AsyncIterator[bytes]]:
        """The file's metadata (404 now, before a response starts) and its bytes, in parts."""
        with _not_found(file_id):
            return await self.store.get(owner, file_id), self.store.stream(owner, file_id)

    async def read(self, owner: str, file_id: str) -> tuple[StoredFile, bytes]:
        """A file's metadata and bytes (files used inside other requests)."""
        with _not_found(file_id):
            return await self.store.get(owner, file_id), await self.store.read(owner, file_id)

    async def delete(self, owner: str, file_id: str) -> FileDeleted:
        with _not_found(file_id):
            await self.store.get(owner, file_id)
        # Its chunks go first: if the database fails in between, the file is still there
        # (deleted on a retry), never chunks that outlive their file.
        if self.documents is not None:
            await self.documents.forget(owner, file_id)
        with _not_found(file_id):
            await self.store.delete(owner, file_id)
        return FileDeleted(id=file_id)


class _not_found:  # noqa: N801 - used as a context manager
    def __init__(self, file_id: str) -> None:
        self.file_id = file_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> bool:
        if kind is not None and issubclass(kind, FileNotFound):
            shown = self.file_id if len(self.file_id) <= 64 and self.file_id.isprintable() else "(invalid id)"
            raise errors.ObjectNotFound(f"No such File object: {shown}", param="file_id") from None
        return False


_STATUS = {"in_progress": "uploaded", "processed": "processed", "error": "error"}


def _object(stored: StoredFile, indexed: IndexedFile | None = None) -> FileObject:
    """The file object; while its document ingestion runs its status is `uploaded` (with the
    progress in status_details), then `processed`, or `error` with the reason."""
    fields = {}
    if indexed is not None:
        fields["status"] = _STATUS[indexed.status]
        if indexed.status == "in_progress":
            fields["status_details"] = f"indexing: {indexed.chunks_done} of {indexed.chunks_total or '?'} chunks"
        elif indexed.status == "error":
            fields["status_details"] = indexed.error
    return FileObject(
        id=stored.id,
        bytes=stored.bytes,
        created_at=stored.created_at,
        filename=stored.filename,
        purpose=stored.purpose,
        **fields,
    )


def _clean_name(filename: str) -> str:
    """The name as given, for display only (never a path here): its last part, printable, bounded."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:255]
    return name or "upload"
