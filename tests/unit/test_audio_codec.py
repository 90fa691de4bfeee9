"""Streaming encoders for every speech format, and decoding uploads back to samples."""

import struct

import numpy as np
import pytest

from triton_openai.models.audio_codec import FORMATS, OUTPUT_RATE, StreamingEncoder, UndecodableAudio, decode_audio

RATE = 22_050


def tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def encode(name: str, pieces: list[np.ndarray]) -> tuple[list[bytes], StreamingEncoder]:
    encoder = StreamingEncoder(name, RATE)
    return [encoder.write(p) for p in pieces] + [encoder.close()], encoder


@pytest.mark.parametrize("name", [n for n in FORMATS if n != "pcm"])
def test_each_format_decodes_back_to_the_same_length(name):
    pieces = [tone(0.4) for _ in range(4)]
    chunks, encoder = encode(name, pieces)
    assert encoder.seconds == pytest.approx(1.6, abs=0.01)
    samples = decode_audio(b"".join(chunks), OUTPUT_RATE)
    assert len(samples) / OUTPUT_RATE == pytest.approx(1.6, abs=0.1)  # codecs pad a frame or two
    assert 0.1 < float(np.abs(samples).max()) <= 1.0


@pytest.mark.parametrize("name", list(FORMATS))
def test_audio_streams_before_the_end(name):
    chunks, _ = encode(name, [tone(0.4) for _ in range(4)])
    # Bytes come out while sentences are still being written, not all at close().
    assert sum(len(c) for c in chunks[:-1]) > 0.5 * sum(len(c) for c in chunks)


def test_pcm_is_raw_24khz_16bit_and_wav_has_a_streaming_header():
    chunks, encoder = encode("pcm", [tone(1.0)])
    data = b"".join(chunks)
    assert len(data) == 2 * encoder.samples_out and encoder.samples_out == pytest.approx(OUTPUT_RATE, abs=50)
    wav = b"".join(encode("wav", [tone(1.0)])[0])
    assert wav[:4] == b"RIFF" and wav[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", wav[24:28])[0] == OUTPUT_RATE
    assert struct.unpack("<I", wav[40:44])[0] == 0xFFFFFFFF  # data size unknown while streaming
    assert wav[44:] == data


@pytest.mark.parametrize("data", [b"", b"not audio at all " * 50, b"RIFF\x00\x00\x00\x00WAVE"])
def test_bytes_that_are_not_audio_are_refused(data):
    with pytest.raises(UndecodableAudio):
        decode_audio(data)


def test_decoding_resamples_to_the_wanted_rate():
    wav = b"".join(encode("wav", [tone(2.0)])[0])
    assert len(decode_audio(wav, 16_000)) == pytest.approx(32_000, abs=200)
