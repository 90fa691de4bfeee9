"""/v1/audio/*: multipart uploads for speech to text, JSON for text to speech."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel

from triton_openai.frontend import errors
from triton_openai.frontend.disconnect import cancel_on_disconnect
from triton_openai.frontend.protocol.audio import SpeechRequest, TranscriptionRequest
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.routes import caller
from triton_openai.frontend.routes.multipart import form_body, read_upload, validate_form
from triton_openai.frontend.sse import sse_response
from triton_openai.models.audio_codec import FORMATS

router = APIRouter()

_TEXT_TYPES = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}


_FORM = form_body(TranscriptionRequest, file_required=False, internal=("task",))


@router.post("/v1/audio/transcriptions", openapi_extra=_FORM)
async def create_transcription(request: Request) -> Response:
    return await _speech_to_text(request, "transcribe")


@router.post("/v1/audio/translations", openapi_extra=_FORM)
async def create_translation(request: Request) -> Response:
    return await _speech_to_text(request, "translate")


@router.post("/v1/audio/speech")
async def create_speech(body: SpeechRequest, request: Request) -> Response:
    serving = request.app.state.serving_speech
    await caller(request, (body.model_extra or {}).get("user"))
    if body.stream_format == "sse":
        return sse_response(await serving.create_events(body))
    return StreamingResponse(
        await serving.create(body),
        media_type=FORMATS[body.response_format].media_type,
        headers={"Content-Disposition": f'attachment; filename="speech.{body.response_format}"'},
    )


async def _speech_to_text(request: Request, task: str) -> Response:
    serving = request.app.state.serving_transcription
    upload = await read_upload(request, serving.max_audio_bytes)
    fields = upload.fields
    owner = await caller(request, fields.pop("user", None))
    if task == "translate":
        fields.pop("language", None)
    body = validate_form(TranscriptionRequest, {**fields, "task": task})
    audio = upload.data
    if audio is None and body.file_id:
        _, audio = await request.app.state.serving_files.read(owner, body.file_id)
    if audio is None:
        raise errors.InvalidRequest("file is required (multipart form field `file`, or `file_id`)", param="file")
    if body.stream:
        return sse_response(await serving.create_stream(body, audio))
    result = await cancel_on_disconnect(request, serving.create(body, audio))
    if isinstance(result, BaseModel):
        return JSONResponse(dump(result))
    return PlainTextResponse(result, media_type=_TEXT_TYPES[body.response_format])
