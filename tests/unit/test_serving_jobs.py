"""What the serving classes hand the Triton client: the jobs of images, speech, transcription,
embeddings and /tokenize, over RecordingTritonClient."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.unit.recording_triton import LLM, RecordingTritonClient
from triton_openai.frontend import errors
from triton_openai.frontend.protocol.audio import SpeechRequest, TranscriptionRequest
from triton_openai.frontend.protocol.embeddings import EmbeddingRequest
from triton_openai.frontend.protocol.images import ImageGenerationRequest
from triton_openai.frontend.protocol.tokenize import TokenizeRequest
from triton_openai.frontend.serving.embeddings import ServingEmbeddings
from triton_openai.frontend.serving.images import ServingImages
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.serving.speech import ServingSpeech
from triton_openai.frontend.serving.tokenize import ServingTokenize
from triton_openai.frontend.serving.transcription import ServingTranscription
from triton_openai.frontend.triton.base import ServedModel
from triton_openai.frontend.triton.jobs import (
    ChatPrompt,
    EmbeddingJob,
    ImageJob,
    SpeechJob,
    TextPrompt,
    TranscriptionJob,
)

DRAW = ServedModel("draw", "image", 1, parameters={"default_size": "512x256", "image_default_steps": "4"})
SPEAK = ServedModel("tts", "speech", 1, parameters={"voices": "joe,alloy"})
HEAR = ServedModel("whisper", "transcription", 1, parameters={"languages": "en,de"})
EMBED = ServedModel("minilm", "embeddings", 1, parameters={"embedding_dim": "384"})


def client() -> RecordingTritonClient:
    return RecordingTritonClient([LLM, DRAW, SPEAK, HEAR, EMBED])


async def test_an_image_job_takes_the_models_size_and_default_steps():
    backend = client()
    images = ServingImages(backend, ModelRegistry(backend), store=None)
    response = await images.create(ImageGenerationRequest(prompt="a cat", n=2, quality="low", seed=3), "http://x")
    assert backend.jobs == [ImageJob("a cat", 512, 256, n=2, steps=2, seed=3)]  # low: half of the model's 4 steps
    assert [base64.b64decode(d.b64_json) for d in response.data] == [b"image 0", b"image 1"]
    await images.create(ImageGenerationRequest(prompt="a dog", size="64x32", num_inference_steps=9), "http://x")
    assert backend.jobs[-1] == ImageJob("a dog", 64, 32, steps=9)


async def test_a_speech_job_and_an_unknown_voice():
    backend = client()
    speech = ServingSpeech(backend, ModelRegistry(backend))
    audio = b"".join([chunk async for chunk in await speech.create(SpeechRequest(input="Hi. There.", voice="joe"))])
    assert audio == b"Hi There" and backend.jobs == [SpeechJob("Hi. There.", "joe", "mp3", 1.0)]
    with pytest.raises(errors.InvalidRequest, match="unknown voice 'nova'"):
        await speech.create(SpeechRequest(input="Hi.", voice="nova"))


async def test_a_transcription_job_names_the_language_by_its_code():
    backend = client()
    transcription = ServingTranscription(backend, ModelRegistry(backend), max_audio_bytes=100)
    request = TranscriptionRequest(language="German", response_format="verbose_json", timestamp_granularities=["word"])
    result = await transcription.create(request, b"RIFF")
    assert backend.jobs == [TranscriptionJob(b"RIFF", "transcribe", "de", None, 0.0, True)]
    assert result.text == "Hello." and [w.word for w in result.words] == ["Hello."]
    with pytest.raises(errors.InvalidRequest, match="not one the model `whisper` knows"):
        await transcription.create(TranscriptionRequest(language="fr"), b"RIFF")


async def test_an_embeddings_job_and_its_vectors():
    backend = client()
    embeddings = ServingEmbeddings(backend, ModelRegistry(backend))
    response = await embeddings.create(EmbeddingRequest(input=["ab", "cde"], dimensions=2, encoding_format="base64"))
    assert backend.jobs == [EmbeddingJob(["ab", "cde"], dimensions=2)]
    vectors = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4").tolist() for d in response.data]
    assert vectors == [[0.0, 0.0], [1.0, 1.0]] and response.usage.prompt_tokens == 5
    with pytest.raises(errors.InvalidRequest, match="at most 384"):
        await embeddings.create(EmbeddingRequest(input="x", dimensions=385))


async def test_tokenize_sends_the_prompt_or_the_messages_with_their_options():
    backend = client()
    tokenize = ServingTokenize(backend, ModelRegistry(backend))
    response = await tokenize.tokenize(TokenizeRequest(prompt="hey", add_special_tokens=False, return_token_strs=True))
    assert response.tokens == [104, 101, 121] and backend.tokenized[-1].prompt == TextPrompt("hey")
    assert backend.tokenized[-1].add_special_tokens is False and backend.tokenized[-1].return_token_strs
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hel"}]
    await tokenize.tokenize(
        TokenizeRequest(
            messages=messages,
            add_generation_prompt=False,
            continue_final_message=True,
            chat_template_kwargs={"enable_thinking": False},
        )
    )
    job = backend.tokenized[-1]
    assert job.prompt == ChatPrompt(messages, None, {"enable_thinking": False})
    assert (job.add_generation_prompt, job.continue_final_message, job.add_special_tokens) == (False, True, None)
