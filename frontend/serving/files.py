"""ServingFiles: /v1/files over a FileStore, files kept apart per owner."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from frontend import errors
from frontend.files.store import FileNotFound, FileStore, QuotaExceeded, StoredFile
from frontend.protocol.files import FileDeleted, FileList, FileObject

MAX_LIST = 10_000  # OpenAI's limit per page


class ServingFiles:
    def __init__(self, store: FileStore, max_file_bytes: int) -> None:
        self.store = store
        self.max_file_bytes = max_file_bytes

    async def create(self, owner: str, filename: str, purpose: str, data: bytes) -> FileObject:
        if len(data) > self.max_file_bytes:
            raise errors.PayloadTooLarge(
                f"file is {len(data)} bytes; at most {self.max_file_bytes} bytes are allowed", param="file"
            )
        if not data:
            raise errors.InvalidRequest("file is empty", param="file")
        try:
            return _object(await self.store.create(owner, _clean_name(filename), purpose, data))
        except QuotaExceeded as exc:
            raise errors.InvalidRequest(str(exc), code="quota_exceeded") from None

    async def list(
        self, owner: str, purpose: str | None, limit: int, after: str | None, order: Literal["asc", "desc"]
    ) -> FileList:
        if not 1 <= limit <= MAX_LIST:
            raise errors.InvalidRequest(f"limit must be between 1 and {MAX_LIST}", param="limit")
        try:
            files, more = await self.store.list(owner, purpose=purpose, limit=limit, after=after, order=order)
        except FileNotFound:
            raise errors.InvalidRequest(f"after: no file {after!r}", param="after") from None
        data = [_object(f) for f in files]
        return FileList(
            data=data, first_id=data[0].id if data else None, last_id=data[-1].id if data else None, has_more=more
        )

    async def get(self, owner: str, file_id: str) -> FileObject:
        with _not_found(file_id):
            return _object(await self.store.get(owner, file_id))

    async def content(self, owner: str, file_id: str) -> tuple[StoredFile, Path]:
        with _not_found(file_id):
            return await self.store.get(owner, file_id), await self.store.path(owner, file_id)

    async def read(self, owner: str, file_id: str) -> tuple[StoredFile, bytes]:
        """A file's metadata and bytes (files used inside other requests)."""
        stored, path = await self.content(owner, file_id)
        return stored, path.read_bytes()

    async def delete(self, owner: str, file_id: str) -> FileDeleted:
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


def _object(stored: StoredFile) -> FileObject:
    return FileObject(
        id=stored.id, bytes=stored.bytes, created_at=stored.created_at, filename=stored.filename, purpose=stored.purpose
    )


def _clean_name(filename: str) -> str:
    """The name as given, for display only (never a path here): its last part, printable, bounded."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:255]
    return name or "upload"
