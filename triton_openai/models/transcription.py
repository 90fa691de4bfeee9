"""Speech to text with faster-whisper (CTranslate2) on a Whisper model folder.

`transcribe` yields plain dicts: first an `info` event (language, duration), then one
`segment` event per decoded segment as soon as it is decoded, so the caller can
stream them. Errors that are the client's (bytes that are not audio, a language the
model does not know) raise InvalidRequest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from triton_openai.models.audio_codec import UndecodableAudio, decode_audio
from triton_openai.models.llm.params import InvalidRequest

SAMPLE_RATE = 16_000
# OpenAI decodes at temperature 0 and, like Whisper, falls back to higher ones when a
# segment looks wrong (repetitive or improbable); an explicit temperature disables that.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass
class TranscriptionOptions:
    task: str = "transcribe"  # or "translate" (to English)
    language: str | None = None  # ISO 639-1; None: detected
    prompt: str | None = None
    temperature: float | None = None
    word_timestamps: bool = False


class Transcriber:
    def __init__(
        self,
        model_dir: str,
        device: str = "cpu",
        compute_type: str = "default",
        threads: int = 0,
        workers: int = 1,
        beam_size: int = 5,
    ) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(
            model_dir,
            device=device,
            compute_type=compute_type,
            cpu_threads=threads,
            num_workers=workers,
            local_files_only=True,
        )
        self.beam_size = beam_size
        self.multilingual = bool(self.model.model.is_multilingual)

    def languages(self) -> list[str]:
        return list(self.model.supported_languages) if self.multilingual else ["en"]

    def check(self, options: TranscriptionOptions) -> None:
        if options.task not in ("transcribe", "translate"):
            raise InvalidRequest(f"task must be transcribe or translate, not {options.task!r}")
        if options.language:
            language = options.language.lower()
            if language not in self.languages():
                if not self.multilingual:
                    raise InvalidRequest(f"this model is English-only; language {options.language!r} is not available")
                raise InvalidRequest(f"unknown language {options.language!r}; use an ISO 639-1 code such as 'en'")
        if options.temperature is not None and not 0.0 <= options.temperature <= 1.0:
            raise InvalidRequest("temperature must be between 0 and 1")

    def transcribe(self, audio: bytes, options: TranscriptionOptions) -> Iterator[dict[str, Any]]:
        self.check(options)
        try:
            samples = decode_audio(audio, SAMPLE_RATE)
        except UndecodableAudio as exc:
            raise InvalidRequest(f"{exc}; send wav, mp3, flac, ogg, webm or m4a") from exc
        temperature = FALLBACK_TEMPERATURES if not options.temperature else options.temperature
        segments, info = self.model.transcribe(
            samples,
            language=(options.language or "").lower() or ("en" if not self.multilingual else None),
            task=options.task if self.multilingual else "transcribe",
            initial_prompt=options.prompt or None,
            temperature=temperature,
            beam_size=self.beam_size,
            word_timestamps=options.word_timestamps,
        )
        yield {"type": "info", "language": info.language, "duration": round(float(info.duration), 3)}
        for index, segment in enumerate(segments):
            event = {
                "type": "segment",
                "id": index,
                "seek": int(segment.seek),
                "start": round(float(segment.start), 3),
                "end": round(float(segment.end), 3),
                "text": segment.text,
                "tokens": [int(t) for t in segment.tokens],
                "temperature": float(segment.temperature or 0.0),
                "avg_logprob": float(segment.avg_logprob),
                "compression_ratio": float(segment.compression_ratio),
                "no_speech_prob": float(segment.no_speech_prob),
            }
            if options.word_timestamps and segment.words:
                event["words"] = [
                    {
                        "word": w.word,
                        "start": round(float(w.start), 3),
                        "end": round(float(w.end), 3),
                        "probability": float(w.probability),
                    }
                    for w in segment.words
                ]
            yield event
