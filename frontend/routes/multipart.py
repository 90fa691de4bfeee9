"""Reading multipart uploads (audio, files): form fields and the one `file` part."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from frontend import errors

# Form parts besides the file are small.
MAX_FIELD_BYTES = 1024 * 1024
_LIST_FIELDS = {"timestamp_granularities", "include"}


@dataclass
class Upload:
    fields: dict[str, Any] = field(default_factory=dict)
    filename: str = ""
    data: bytes | None = None  # None: no `file` part


async def read_upload(request: Request, max_file_bytes: int) -> Upload:
    """The form; a `file` over `max_file_bytes` is a 413 (read no further than one byte past it)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_file_bytes + MAX_FIELD_BYTES:
        raise errors.PayloadTooLarge(f"the request is {length} bytes; files may have at most {max_file_bytes} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise errors.InvalidRequest("send the upload as multipart/form-data with a `file` field")
    try:
        form = await request.form(max_files=1, max_fields=64, max_part_size=MAX_FIELD_BYTES)
    except errors.APIError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several kinds
        raise errors.InvalidRequest(f"could not read the multipart form: {exc}") from None
    upload = Upload()
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "file":
                    upload.filename = value.filename or ""
                    upload.data = await value.read(max_file_bytes + 1)
                continue
            name = key.removesuffix("[]")
            if name in _LIST_FIELDS:
                upload.fields.setdefault(name, []).append(value)
            else:
                upload.fields[name] = value
    finally:
        await form.close()
    if upload.data is not None and len(upload.data) > max_file_bytes:
        raise errors.PayloadTooLarge(f"file is over the limit of {max_file_bytes} bytes", param="file")
    return upload
