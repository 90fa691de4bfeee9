"""Speech to text and text to speech through the openai package: round trips, formats, errors."""

import base64
import io
import json
import re

import av
import httpx
import numpy as np
import openai
import pytest
import srt
import webvtt

from triton_openai.models.audio_codec import decode_audio

STT = "whisper-tiny.en"
TTS = "tts"
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
PARAGRAPH = "The server answers many questions at once. Each request streams its answer. The weather is nice today."


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    distances = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, distances[0] = distances[0], i
        for j, h in enumerate(hyp, 1):
            previous, distances[j] = distances[j], min(distances[j] + 1, distances[j - 1] + 1, previous + (r != h))
    return distances[-1] / max(1, len(ref))


def speak(client, text: str = SENTENCE, response_format: str = "wav", **options) -> bytes:
    return client.audio.speech.create(
        model=TTS, voice="alloy", input=text, response_format=response_format, **options
    ).content


def transcribe(client, audio: bytes, name: str = "speech.wav", **options):
    return client.audio.transcriptions.create(model=STT, file=(name, audio), **options)


@pytest.fixture(scope="module")
def wav(client) -> bytes:
    return speak(client)


@pytest.mark.parametrize("response_format", ["mp3", "opus", "aac", "flac", "wav"])
def test_round_trip_in_each_speech_format(client, response_format):
    audio = speak(client, response_format=response_format)
    text = transcribe(client, audio, f"speech.{response_format}").text
    assert word_error_rate(SENTENCE, text) < 0.2, text


@pytest.mark.parametrize("container, codec", [("webm", "libopus"), ("ipod", "aac"), ("ogg", "libopus")])
def test_uploads_in_webm_m4a_and_ogg_are_read(client, wav, container, codec):
    samples = decode_audio(wav, 48_000)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=48_000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = 48_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    suffix = {"ipod": "m4a"}.get(container, container)
    assert word_error_rate(SENTENCE, transcribe(client, buffer.getvalue(), f"speech.{suffix}").text) < 0.2


def test_round_trip_in_each_transcription_format(client, wav):
    assert word_error_rate(SENTENCE, transcribe(client, wav, response_format="json").text) < 0.2
    text = transcribe(client, wav, response_format="text")
    assert isinstance(text, str) and word_error_rate(SENTENCE, text) < 0.2
    cues = list(srt.parse(transcribe(client, wav, response_format="srt")))
    assert cues and cues[0].index == 1
    assert word_error_rate(SENTENCE, " ".join(c.content for c in cues)) < 0.2
    captions = webvtt.from_buffer(io.StringIO(transcribe(client, wav, response_format="vtt"))).captions
    assert captions and word_error_rate(SENTENCE, " ".join(c.text for c in captions)) < 0.2
    assert captions[-1].end_in_seconds <= len(decode_audio(wav)) / 16_000 + 0.5


def test_verbose_json_has_ordered_segments_and_words(client):
    audio = speak(client, PARAGRAPH)
    result = transcribe(client, audio, response_format="verbose_json", timestamp_granularities=["word", "segment"])
    assert result.language == "english" and result.duration > 3
    assert [s.id for s in result.segments] == list(range(len(result.segments)))
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and all(s.end >= s.start for s in result.segments)
    assert result.segments[-1].end <= result.duration + 0.5
    assert word_error_rate(PARAGRAPH, result.text) < 0.2
    assert word_error_rate(PARAGRAPH, " ".join(w.word for w in result.words)) < 0.2
    assert [w.start for w in result.words] == sorted(w.start for w in result.words)


def test_streamed_transcription_joins_to_the_same_text(client):
    audio = speak(client, PARAGRAPH)
    events = list(transcribe(client, audio, stream=True))
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = events[-1]
    assert done.type == "transcript.text.done" and deltas
    assert "".join(deltas) == done.text == transcribe(client, audio).text
    assert done.usage.type == "tokens" and done.usage.input_tokens > 3 * 50 and done.usage.output_tokens > 10


def test_translation_to_english(client, wav):
    assert word_error_rate(SENTENCE, client.audio.translations.create(model=STT, file=("s.wav", wav)).text) < 0.2


def test_speech_streams_sentence_by_sentence(server):
    body = {"model": TTS, "voice": "echo", "input": PARAGRAPH, "response_format": "pcm"}
    with httpx.stream("POST", server.base_url + "/v1/audio/speech", json=body, timeout=60) as response:
        assert response.headers["content-type"] == "audio/pcm"
        chunks = [c for c in response.iter_raw() if c]
    assert len(chunks) >= 3  # one per sentence at least, sent as each is synthesized
    seconds = sum(len(c) for c in chunks) / 2 / 24_000
    assert 3 < seconds < 15


def test_speech_as_sse_events(client, server):
    body = {"model": TTS, "voice": "alloy", "input": SENTENCE, "response_format": "mp3", "stream_format": "sse"}
    with httpx.stream("POST", server.base_url + "/v1/audio/speech", json=body, timeout=60) as response:
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ") and line != "data: [DONE]"]
    events = [json.loads(line) for line in lines]
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["input_tokens"] == len(SENTENCE)
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    assert word_error_rate(SENTENCE, transcribe(client, audio, "speech.mp3").text) < 0.2


def test_speed_changes_the_duration(client):
    slow, fast = (len(decode_audio(speak(client, speed=s))) for s in (0.5, 2.0))
    assert slow > 2.5 * fast


def test_openai_voice_names_map_to_installed_voices(client):
    for voice in ("joe", "alloy", "nova", "shimmer"):
        audio = client.audio.speech.create(model="tts-1", voice=voice, input="Hello.", response_format="wav").content
        assert len(decode_audio(audio)) > 0.2 * 16_000


@pytest.mark.parametrize(
    "body, message",
    [
        ({"voice": "nobody"}, "available voices: joe, alloy"),
        ({"voice": "alloy", "input": "   "}, "empty"),
        ({"voice": "alloy", "input": "x" * 4097}, "4096"),
        ({"voice": "alloy", "speed": 5}, "speed"),
        ({"voice": "alloy", "response_format": "ogg"}, "response_format"),
        ({"voice": "alloy", "model": STT}, "not a text-to-speech model"),
    ],
)
def test_bad_speech_requests(http, body, message):
    response = http.post("/v1/audio/speech", json={"model": TTS, "input": "Hello.", **body})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "files, data, status, message",
    [
        ({"file": ("noise.wav", b"\x01\x02not audio" * 300)}, {}, 400, "not audio"),
        ({"file": ("empty.wav", b"")}, {}, 400, "empty"),
        ({}, {"model": STT}, 400, "file is required"),
        (None, {"language": "fr"}, 400, "English-only"),
        (None, {"timestamp_granularities[]": "word"}, 400, "verbose_json"),
        (None, {"response_format": "docx"}, 400, "response_format"),
        (None, {"model": "no-such-model"}, 404, "does not exist"),
    ],
)
def test_bad_transcription_requests(http, wav, files, data, status, message):
    files = {"file": ("speech.wav", wav)} if files is None else files
    if not files:
        files = {"unrelated": ("x.txt", b"x")}
    response = http.post("/v1/audio/transcriptions", files=files, data={"model": STT, **data})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]


def test_files_over_the_limit_get_413(http):
    big = np.zeros(26 * 1024 * 1024, dtype=np.uint8).tobytes()
    response = http.post("/v1/audio/transcriptions", files={"file": ("big.wav", big)}, data={"model": STT})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_server_keeps_serving_after_bad_audio(client, wav):
    with pytest.raises(openai.BadRequestError):
        transcribe(client, b"garbage" * 100)
    assert word_error_rate(SENTENCE, transcribe(client, wav).text) < 0.2
