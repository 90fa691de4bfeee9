"""/v1/collections/{name}/files: documents of a collection for document Q&A.

`UserData` (or `MyData`) is the caller's own collection; any other name is shared by
every caller. A file joins a collection from the caller's files (/v1/files).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from triton_openai.frontend.documents.index import IndexedFile
from triton_openai.frontend.protocol.common import RequestModel, ResponseModel, dump
from triton_openai.frontend.routes import caller

router = APIRouter()


class CollectionFileRequest(RequestModel):
    file_id: str = Field(min_length=1, max_length=64)
    chunk_size: int | None = Field(None, ge=100, le=100_000)
    user: str | None = None


class CollectionFile(ResponseModel):
    id: str
    object: Literal["collection.file"] = "collection.file"
    collection: str
    filename: str
    status: Literal["in_progress", "processed", "error"]
    chunks_done: int
    chunks_total: int
    error: str | None = None


class CollectionFileList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[CollectionFile]


def _file(name: str, indexed: IndexedFile) -> CollectionFile:
    return CollectionFile(
        id=indexed.file_id,
        collection=name,
        filename=indexed.filename,
        status=indexed.status,
        chunks_done=indexed.chunks_done,
        chunks_total=indexed.chunks_total,
        error=indexed.error,
    )


@router.post("/v1/collections/{name}/files")
async def add_file(name: str, body: CollectionFileRequest, request: Request) -> JSONResponse:
    owner = await caller(request, body.user)
    indexed = await request.app.state.serving_documents.ingest(owner, body.file_id, name, body.chunk_size)
    return JSONResponse(dump(_file(name, indexed)))


@router.get("/v1/collections/{name}/files")
async def list_files(name: str, request: Request, user: str | None = None) -> JSONResponse:
    files = await request.app.state.serving_documents.list(await caller(request, user), name)
    return JSONResponse(dump(CollectionFileList(data=[_file(name, f) for f in files])))


@router.delete("/v1/collections/{name}/files/{file_id}")
async def remove_file(name: str, file_id: str, request: Request, user: str | None = None) -> JSONResponse:
    await request.app.state.serving_documents.remove(await caller(request, user), name, file_id)
    return JSONResponse({"id": file_id, "object": "collection.file", "deleted": True})
