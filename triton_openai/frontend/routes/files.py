from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.protocol.files import FileUploadForm
from triton_openai.frontend.routes import caller
from triton_openai.frontend.routes.multipart import form_body, read_upload, validate_form

router = APIRouter()


@router.post("/v1/files", openapi_extra=form_body(FileUploadForm, file_required=True))
async def upload_file(request: Request) -> JSONResponse:
    serving = request.app.state.serving_files
    upload = await read_upload(request, serving.max_file_bytes)
    if upload.data is None:
        raise errors.InvalidRequest("file is required (multipart form field `file`)", param="file")
    owner = await caller(request, upload.fields.pop("user", None))
    form = validate_form(FileUploadForm, upload.fields)
    return JSONResponse(dump(await serving.create(owner, upload.filename, form.purpose, upload.data)))


@router.get("/v1/files")
async def list_files(
    request: Request,
    purpose: str | None = None,
    limit: int = Query(10_000),
    after: str | None = None,
    order: Literal["asc", "desc"] = "desc",
    user: str | None = None,
) -> JSONResponse:
    serving = request.app.state.serving_files
    return JSONResponse(dump(await serving.list(await caller(request, user), purpose, limit, after, order)))


@router.get("/v1/files/{file_id}")
async def retrieve_file(file_id: str, request: Request, user: str | None = None) -> JSONResponse:
    return JSONResponse(dump(await request.app.state.serving_files.get(await caller(request, user), file_id)))


@router.delete("/v1/files/{file_id}")
async def delete_file(file_id: str, request: Request, user: str | None = None) -> JSONResponse:
    return JSONResponse(dump(await request.app.state.serving_files.delete(await caller(request, user), file_id)))


@router.get("/v1/files/{file_id}/content")
async def file_content(file_id: str, request: Request, user: str | None = None) -> StreamingResponse:
    stored, parts = await request.app.state.serving_files.content(await caller(request, user), file_id)
    headers = {"content-length": str(stored.bytes), "content-disposition": attachment(stored.filename)}
    return StreamingResponse(parts, media_type="application/octet-stream", headers=headers)


def attachment(filename: str) -> str:
    """A Content-Disposition naming the download (RFC 6266; UTF-8 names percent-encoded)."""
    quoted = quote(filename)
    if quoted == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename*=utf-8''{quoted}"
