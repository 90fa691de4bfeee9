"""Audio in and out: decode any file PyAV reads, encode speech as it is synthesized.

Decoding turns the bytes of a wav / mp3 / flac / ogg / webm / m4a upload into mono
float32 samples at the rate a model wants. Encoding is incremental: `write` takes the
samples of one synthesized sentence and returns the bytes that can be sent now, so
speech streams to the client in its final format. The output follows OpenAI's
speech API: 24 kHz mono, `pcm` is raw signed 16-bit little-endian, `wav` carries a
header whose sizes say "unknown" (the length is not known while streaming), `opus`
is in an Ogg container and `aac` in ADTS.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

OUTPUT_RATE = 24_000


class UndecodableAudio(ValueError):
    """Bytes that are not audio in a format we can read."""


def decode_audio(data: bytes, rate: int = 16_000) -> np.ndarray:
    """Mono float32 samples in [-1, 1] at `rate`, from the bytes of an audio file."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UndecodableAudio("the file has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            pieces = []
            for frame in container.decode(stream):
                pieces.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            pieces.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    except UndecodableAudio:
        raise
    except (av.error.FFmpegError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UndecodableAudio(f"the file is not audio in a format we can read ({reason})") from exc
    if not pieces:
        raise UndecodableAudio("the file holds no audio samples")
    return np.concatenate(pieces).astype(np.float32, copy=False)


@dataclass(frozen=True)
class AudioFormat:
    name: str
    media_type: str
    container: str | None  # None: raw samples written by us (pcm, wav)
    codec: str | None
    sample_format: str | None = None
    bit_rate: int | None = None


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in [
        AudioFormat("mp3", "audio/mpeg", "mp3", "libmp3lame", "s16p", 64_000),
        AudioFormat("opus", "audio/ogg", "ogg", "libopus", "s16", 32_000),
        AudioFormat("aac", "audio/aac", "adts", "aac", "fltp", 64_000),
        AudioFormat("flac", "audio/flac", "flac", "flac", "s16"),
        AudioFormat("wav", "audio/wav", None, None),
        AudioFormat("pcm", "audio/pcm", None, None),
    ]
}


class _Sink:
    """A write-only, non-seekable file for PyAV: muxers then write headers up front."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class StreamingEncoder:
    """Float32 mono samples at `input_rate` in, encoded bytes out, chunk by chunk."""

    def __init__(self, format_name: str, input_rate: int) -> None:
        import av

        if format_name not in FORMATS:
            raise ValueError(f"unknown audio format {format_name!r}; one of {', '.join(FORMATS)}")
        self.format = FORMATS[format_name]
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=OUTPUT_RATE)
        self._input_rate = input_rate
        self._pts = 0
        self._header_sent = False
        self.samples_out = 0
        self._container = None
        if self.format.container is not None:
            self._sink = _Sink()
            # flush_packets: hand each packet to the sink at once rather than filling a buffer;
            # Ogg pages otherwise hold a second of audio.
            options = {"flush_packets": "1", **({"page_duration": "100000"} if self.format.container == "ogg" else {})}
            self._container = av.open(self._sink, mode="w", format=self.format.container, options=options)
            stream = self._container.add_stream(self.format.codec, rate=OUTPUT_RATE)
            stream.layout = "mono"
            if self.format.sample_format:
                stream.format = self.format.sample_format
            if self.format.bit_rate:
                stream.bit_rate = self.format.bit_rate
            self._stream = stream

    @property
    def seconds(self) -> float:
        return self.samples_out / OUTPUT_RATE

    def write(self, samples: np.ndarray) -> bytes:
        return self._encode(self._resample(samples))

    def close(self) -> bytes:
        """The bytes still held back (encoder delay, trailers); the encoder is done then."""
        data = self._encode(self._flush_resampler())
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            data += self._sink.take()
        return data

    def _resample(self, samples: np.ndarray):
        import av

        pcm = np.clip(np.asarray(samples, dtype=np.float32).reshape(1, -1) * 32767.0, -32768, 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self._input_rate
        frame.pts = self._pts
        self._pts += pcm.shape[1]
        return self._resampler.resample(frame)

    def _flush_resampler(self):
        return self._resampler.resample(None)

    def _encode(self, frames) -> bytes:
        if self._container is None:
            raw = b"".join(f.to_ndarray().astype("<i2").tobytes() for f in frames)
            self.samples_out += len(raw) // 2
            if self.format.name == "wav" and not self._header_sent:
                self._header_sent = True
                return _streaming_wav_header(OUTPUT_RATE) + raw
            return raw
        for frame in frames:
            self.samples_out += frame.samples
            frame.pts = None
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._sink.take()


def _streaming_wav_header(rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    """A RIFF/WAVE header for 16-bit PCM whose RIFF and data sizes are 0xFFFFFFFF (unknown)."""
    unknown = 0xFFFFFFFF
    byte_rate = rate * channels * sample_width
    fmt = struct.pack("<HHIIHH", 1, channels, rate, byte_rate, channels * sample_width, 8 * sample_width)
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + (struct.pack("<I", unknown))
    )
