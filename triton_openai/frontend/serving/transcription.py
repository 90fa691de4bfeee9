"""ServingTranscription: /v1/audio/transcriptions and /v1/audio/translations."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.audio import (
    DurationUsage,
    TokenUsage,
    Transcription,
    TranscriptionRequest,
    TranscriptionSegment,
    TranscriptionTextDelta,
    TranscriptionTextDone,
    TranscriptionVerbose,
    TranscriptionWord,
)
from triton_openai.frontend.serving.choices import primed
from triton_openai.frontend.serving.languages import language_code, language_name
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.serving.subtitles import to_srt, to_vtt
from triton_openai.frontend.triton.base import ModelKind, ServedModel, TritonClient
from triton_openai.frontend.triton.jobs import TranscriptionJob

# Whisper's encoder sees 1500 positions per 30 s window.
AUDIO_TOKENS_PER_SECOND = 50


class ServingTranscription:
    def __init__(self, engine: TritonClient, registry: ModelRegistry, max_audio_bytes: int) -> None:
        self.engine = engine
        self.registry = registry
        self.max_audio_bytes = max_audio_bytes

    async def create(self, request: TranscriptionRequest, audio: bytes) -> BaseModel | str:
        """The transcription in its response format: a model for json / verbose_json, else text."""
        model, events = await self._events(request, audio)
        info: dict[str, Any] = {}
        segments = []
        async for event in events:
            if event["type"] == "info":
                info = event
            else:
                segments.append(event)
        text = "".join(s["text"] for s in segments).strip()
        usage = DurationUsage(seconds=float(info.get("duration", 0.0)))
        if request.response_format == "text":
            return text + "\n"
        if request.response_format == "srt":
            return to_srt(segments)
        if request.response_format == "vtt":
            return to_vtt(segments)
        if request.response_format == "json":
            return Transcription(text=text, usage=usage)
        return TranscriptionVerbose(
            task=request.task,
            language=language_name(info.get("language", "en")),
            duration=float(info.get("duration", 0.0)),
            text=text,
            segments=[TranscriptionSegment(**{k: s[k] for k in TranscriptionSegment.model_fields}) for s in segments],
            words=_words(segments) if "word" in request.timestamp_granularities else None,
            usage=usage if request.task == "transcribe" else None,
        )

    async def create_stream(self, request: TranscriptionRequest, audio: bytes) -> AsyncIterator[BaseModel]:
        """OpenAI's transcript.text.delta events, one per segment, then transcript.text.done."""
        _, events = await self._events(request, audio)
        return self._stream(await primed(events))

    @staticmethod
    async def _stream(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[BaseModel]:
        parts: list[str] = []
        audio_tokens = text_tokens = 0
        async for event in events:
            if event["type"] == "info":
                audio_tokens = math.ceil(float(event.get("duration", 0.0)) * AUDIO_TOKENS_PER_SECOND)
                continue
            text_tokens += len(event.get("tokens", ()))
            delta = event["text"] if parts else event["text"].lstrip()
            if delta:
                parts.append(delta)
                yield TranscriptionTextDelta(delta=delta)
        usage = TokenUsage(
            input_tokens=audio_tokens, output_tokens=text_tokens, total_tokens=audio_tokens + text_tokens
        )
        yield TranscriptionTextDone(text="".join(parts), usage=usage)

    async def _events(
        self, request: TranscriptionRequest, audio: bytes
    ) -> tuple[ServedModel, AsyncIterator[dict[str, Any]]]:
        if not audio:
            raise errors.InvalidRequest("file is empty", param="file")
        if len(audio) > self.max_audio_bytes:
            raise errors.PayloadTooLarge(
                f"file is {len(audio)} bytes; at most {self.max_audio_bytes} bytes are allowed", param="file"
            )
        model = await self.registry.resolve(request.model, ModelKind.TRANSCRIPTION)
        language = language_code(request.language) if request.language and request.task == "transcribe" else None
        known = model.languages
        if language and known and language not in known:
            only = " (the model is English-only)" if known == ["en"] else ""
            raise errors.InvalidRequest(
                f"language {request.language!r} is not one the model `{model.name}` knows{only}", param="language"
            )
        words = "word" in request.timestamp_granularities
        if words and request.response_format != "verbose_json":
            raise errors.InvalidRequest(
                "timestamp_granularities needs response_format verbose_json", param="timestamp_granularities"
            )
        job = TranscriptionJob(audio, request.task, language, request.prompt, request.temperature, words)
        request_id = f"{request.task}-{uuid.uuid4().hex}"
        return model, self.engine.transcribe(model, job, request_id)


def _words(segments: list[dict[str, Any]]) -> list[TranscriptionWord]:
    return [
        TranscriptionWord(word=w["word"].strip(), start=w["start"], end=w["end"])
        for s in segments
        for w in s.get("words", [])
    ]
