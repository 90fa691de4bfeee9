"""ServingSpeech: /v1/audio/speech, streamed as raw audio bytes or as SSE events."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

from pydantic import BaseModel

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.audio import SpeechAudioDelta, SpeechAudioDone, SpeechRequest, SpeechUsage
from triton_openai.frontend.serving.choices import primed
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import AudioChunk, ModelKind, TritonClient
from triton_openai.frontend.triton.jobs import SpeechJob


class ServingSpeech:
    def __init__(self, engine: TritonClient, registry: ModelRegistry) -> None:
        self.engine = engine
        self.registry = registry

    async def create(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        """The audio bytes as synthesized; errors before the first chunk raise here."""
        chunks = await self._chunks(request)

        async def data() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                if chunk.data:
                    yield chunk.data

        return data()

    async def create_events(self, request: SpeechRequest) -> AsyncIterator[BaseModel]:
        chunks = await self._chunks(request)

        async def events() -> AsyncIterator[BaseModel]:
            async for chunk in chunks:
                if chunk.data:
                    yield SpeechAudioDelta(audio=base64.b64encode(chunk.data).decode("ascii"))
            # Piper voices have no tokens: usage counts the input's characters.
            characters = len(request.input)
            yield SpeechAudioDone(usage=SpeechUsage(input_tokens=characters, output_tokens=0, total_tokens=characters))

        return events()

    async def _chunks(self, request: SpeechRequest) -> AsyncIterator[AudioChunk]:
        model = await self.registry.resolve(request.model, ModelKind.SPEECH)
        voices = model.voices
        if voices and request.voice_name not in voices:
            raise errors.InvalidRequest(
                f"unknown voice {request.voice_name!r}; available voices: {', '.join(voices)}", param="voice"
            )
        job = SpeechJob(request.input, request.voice_name, request.response_format, request.speed)
        return await primed(self.engine.synthesize(model, job, f"speech-{uuid.uuid4().hex}"))
