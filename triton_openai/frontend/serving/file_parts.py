"""File content parts in chat messages become text the model reads.

`{"type": "file", "file": {"file_id": ...}}` (a file uploaded to /v1/files by the same
caller) or `{"file": {"file_data": "data:...;base64,...", "filename": ...}}` turns into a
text part holding the file's name and its text: txt, md, json, csv and other UTF-8 text
as is, PDF through pypdf's text extraction.
"""

from __future__ import annotations

import base64
import binascii
import io

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.chat import ChatCompletionRequest, ContentPart
from triton_openai.frontend.serving.files import ServingFiles

MAX_FILE_TEXT = 1_000_000  # characters; the model's context is the real limit


async def resolve_file_parts(request: ChatCompletionRequest, files: ServingFiles, owner: str) -> ChatCompletionRequest:
    """The request with every file part replaced by a text part (the request is left as is if it has none)."""
    if not any(isinstance(m.content, list) and any(p.type == "file" for p in m.content) for m in request.messages):
        return request
    messages = []
    for message in request.messages:
        if isinstance(message.content, list):
            parts = [await _as_text(part, files, owner) if part.type == "file" else part for part in message.content]
            message = message.model_copy(update={"content": parts})
        messages.append(message)
    return request.model_copy(update={"messages": messages})


async def _as_text(part: ContentPart, files: ServingFiles, owner: str) -> ContentPart:
    ref = part.file
    assert ref is not None
    if ref.file_id:
        stored, data = await files.read(owner, ref.file_id)
        name = ref.filename or stored.filename
    else:
        name, data = ref.filename or "file", _data_url_bytes(ref.file_data or "")
    text = extract_text(name, data)
    if len(text) > MAX_FILE_TEXT:
        raise errors.InvalidRequest(f"the text of file {name!r} has over {MAX_FILE_TEXT} characters")
    return ContentPart(type="text", text=f"[file: {name}]\n{text}")


def extract_text(name: str, data: bytes) -> str:
    if data[:5] == b"%PDF-" or name.lower().endswith(".pdf"):
        return _pdf_text(name, data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.InvalidRequest(
            f"file {name!r} is neither UTF-8 text (txt, md, json, csv, ...) nor a PDF", param="messages"
        ) from None


def _pdf_text(name: str, data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PdfReadError, ValueError, KeyError) as exc:
        raise errors.InvalidRequest(f"file {name!r} could not be read as a PDF: {exc}", param="messages") from None


def _data_url_bytes(url: str) -> bytes:
    header, _, payload = url.partition(",")
    try:
        if header.startswith("data:") and header.endswith(";base64"):
            return base64.b64decode(payload, validate=True)
        return base64.b64decode(url, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidRequest("file.file_data must be base64 (or a base64 data URL)", param="messages") from None
