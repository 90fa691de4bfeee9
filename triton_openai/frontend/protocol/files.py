"""/v1/files."""

from __future__ import annotations

from typing import Literal

from triton_openai.frontend.protocol.common import RequestModel, ResponseModel

# OpenAI's upload purposes.
Purpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]


class FileUploadForm(RequestModel):
    """The form fields of an upload (the file travels apart)."""

    purpose: Purpose


class FileObject(ResponseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    expires_at: int | None = None
    status_details: str | None = None


class FileList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FileDeleted(ResponseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True
