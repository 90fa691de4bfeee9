"""File content parts in chat messages become text the model reads.

`{"type": "file", "file": {"file_id": ...}}` (a file uploaded to /v1/files by the same
caller) or `{"file": {"file_data": "data:...;base64,...", "filename": ...}}` turns into a
text part holding the file's name and its text, read by document Q&A's extractor
(triton_openai.frontend.documents.parse: txt, md, html, csv, json, pdf, docx, and any
other UTF-8 text) in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from triton_openai.frontend import errors
from triton_openai.frontend.documents.parse import DocumentError, extract_text
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
    text = await file_text(name, data)
    if len(text) > MAX_FILE_TEXT:
        raise errors.InvalidRequest(f"the text of file {name!r} has over {MAX_FILE_TEXT} characters")
    return ContentPart(type="text", text=f"[file: {name}]\n{text}")


async def file_text(name: str, data: bytes) -> str:
    """The text of a file part; a 400 naming the file when it cannot be read."""
    try:
        return await asyncio.to_thread(extract_text, name, data, any_text=True)
    except DocumentError as exc:
        raise errors.InvalidRequest(str(exc), param="messages") from None


def _data_url_bytes(url: str) -> bytes:
    header, _, payload = url.partition(",")
    try:
        if header.startswith("data:") and header.endswith(";base64"):
            return base64.b64decode(payload, validate=True)
        return base64.b64decode(url, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidRequest("file.file_data must be base64 (or a base64 data URL)", param="messages") from None
