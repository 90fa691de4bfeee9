"""/v1/audio/transcriptions, /v1/audio/translations and /v1/audio/speech."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from triton_openai.frontend.protocol.common import RequestModel, ResponseModel

TranscriptionFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]


class TranscriptionRequest(RequestModel):
    """The form fields of a transcription or translation upload (the file travels apart)."""

    model: str | None = None
    language: str | None = None  # transcriptions only
    prompt: str | None = None
    response_format: TranscriptionFormat = "json"
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    timestamp_granularities: list[Literal["word", "segment"]] = Field(default_factory=lambda: ["segment"])
    stream: bool = False
    task: Literal["transcribe", "translate"] = "transcribe"
    file_id: str | None = None  # extension: a file uploaded to /v1/files, instead of `file`

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return value.strip().lower() or None if value else None


class TranscriptionWord(ResponseModel):
    word: str
    start: float
    end: float


class TranscriptionSegment(ResponseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class DurationUsage(ResponseModel):
    type: Literal["duration"] = "duration"
    seconds: float


class Transcription(ResponseModel):
    text: str
    usage: DurationUsage | None = None


class TranscriptionVerbose(ResponseModel):
    task: Literal["transcribe", "translate"] = "transcribe"
    language: str
    duration: float
    text: str
    segments: list[TranscriptionSegment] | None = None
    words: list[TranscriptionWord] | None = None
    usage: DurationUsage | None = None


class TranscriptionTextDelta(ResponseModel):
    type: Literal["transcript.text.delta"] = "transcript.text.delta"
    delta: str


class TokenUsage(ResponseModel):
    """A streamed transcription's usage, in tokens as OpenAI's done event carries it: the
    Whisper encoder's audio positions (50 per second) in, the decoded text tokens out."""

    type: Literal["tokens"] = "tokens"
    input_tokens: int
    output_tokens: int
    total_tokens: int


class TranscriptionTextDone(ResponseModel):
    type: Literal["transcript.text.done"] = "transcript.text.done"
    text: str
    usage: TokenUsage | None = None


class VoiceId(RequestModel):
    id: str


class SpeechRequest(RequestModel):
    model: str | None = None
    input: str = Field(max_length=4096)
    voice: str | VoiceId
    instructions: str | None = None  # accepted; piper voices take no instructions
    response_format: SpeechFormat = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = "audio"

    @field_validator("input")
    @classmethod
    def _input(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("input must not be empty")
        return value

    @property
    def voice_name(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceId) else self.voice


class SpeechAudioDelta(ResponseModel):
    type: Literal["speech.audio.delta"] = "speech.audio.delta"
    audio: str  # base64


class SpeechUsage(ResponseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class SpeechAudioDone(ResponseModel):
    type: Literal["speech.audio.done"] = "speech.audio.done"
    usage: SpeechUsage
