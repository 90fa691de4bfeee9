"""Reading multipart uploads (audio, files): form fields and the one `file` part."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from triton_openai.frontend import errors

# Form parts besides the file are small.
MAX_FIELD_BYTES = 1024 * 1024
_LIST_FIELDS = {"timestamp_granularities", "include"}


def form_body(model: type[BaseModel], *, file_required: bool, internal: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAPI request body of a multipart route: `model`'s fields (less `internal` ones
    the route sets itself), the `file` part, and `user` (closed access reads it from the form)."""
    schema = model.model_json_schema()
    properties = {name: spec for name, spec in schema["properties"].items() if name not in internal}
    properties = {"file": {"type": "string", "format": "binary"}, **properties, "user": {"type": "string"}}
    required = (["file"] if file_required else []) + [name for name in schema.get("required", []) if name in properties]
    form = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}}}


def validate_form(model: type[BaseModel], fields: dict[str, Any]) -> Any:
    """`fields` as `model`, or a 400 naming the first bad field."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise errors.from_validation_errors(exc.errors()) from None


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
