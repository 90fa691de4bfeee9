"""/v1/audio/*: multipart uploads for speech to text, JSON for text to speech."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from frontend import errors
from frontend.disconnect import cancel_on_disconnect
from frontend.protocol.audio import SpeechRequest, TranscriptionRequest
from frontend.protocol.common import dump
from frontend.serving.speech import MEDIA_TYPES
from frontend.sse import sse_response

router = APIRouter()

_TEXT_TYPES = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}
_LIST_FIELDS = {"timestamp_granularities", "include"}
# Form parts besides the file are small; the file itself is checked against max_audio_bytes.
_MAX_FIELD_BYTES = 1024 * 1024


@router.post("/v1/audio/transcriptions")
async def create_transcription(request: Request) -> Response:
    return await _speech_to_text(request, "transcribe")


@router.post("/v1/audio/translations")
async def create_translation(request: Request) -> Response:
    return await _speech_to_text(request, "translate")


@router.post("/v1/audio/speech")
async def create_speech(body: SpeechRequest, request: Request) -> Response:
    serving = request.app.state.serving_speech
    if body.stream_format == "sse":
        return sse_response(await serving.create_events(body))
    return StreamingResponse(
        await serving.create(body),
        media_type=MEDIA_TYPES[body.response_format],
        headers={"Content-Disposition": f'attachment; filename="speech.{body.response_format}"'},
    )


async def _speech_to_text(request: Request, task: str) -> Response:
    serving = request.app.state.serving_transcription
    limit = serving.max_audio_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + _MAX_FIELD_BYTES:
        raise errors.PayloadTooLarge(f"the request is {length} bytes; audio files may have at most {limit} bytes")
    fields, audio = await _read_form(request)
    if task == "translate":
        fields.pop("language", None)
    try:
        body = TranscriptionRequest.model_validate({**fields, "task": task})
    except ValidationError as exc:
        raise errors.from_validation_errors(exc.errors()) from None
    if audio is None:
        raise errors.InvalidRequest("file is required (multipart form field `file`)", param="file")
    if body.stream:
        return sse_response(await serving.create_stream(body, audio))
    result = await cancel_on_disconnect(request, serving.create(body, audio))
    if isinstance(result, BaseModel):
        return JSONResponse(dump(result))
    return PlainTextResponse(result, media_type=_TEXT_TYPES[body.response_format])


async def _read_form(request: Request) -> tuple[dict[str, Any], bytes | None]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise errors.InvalidRequest("send the audio as multipart/form-data with a `file` field")
    try:
        form = await request.form(max_files=1, max_fields=64, max_part_size=_MAX_FIELD_BYTES)
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several kinds
        raise errors.InvalidRequest(f"could not read the multipart form: {exc}") from None
    fields: dict[str, Any] = {}
    audio = None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "file":
                    audio = await value.read(request.app.state.serving_transcription.max_audio_bytes + 1)
                continue
            name = key.removesuffix("[]")
            if name in _LIST_FIELDS:
                fields.setdefault(name, []).append(value)
            else:
                fields[name] = value
    finally:
        await form.close()
    return fields, audio
