"""Image parts of chat messages and the image generation types, against the openai package's."""

import asyncio
import os
import time

import openai.types as sdk
import pytest
from pydantic import ValidationError

from triton_openai.frontend.files.generated_images import GeneratedImages
from triton_openai.frontend.files.postgres_images import PostgresImages
from triton_openai.frontend.files.store import FileNotFound
from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.protocol.common import dump
from triton_openai.frontend.protocol.images import ImageData, ImageGenerationRequest, ImagesResponse


def test_image_types_carry_the_sdk_names():
    for ours, theirs in ((ImagesResponse, sdk.ImagesResponse), (ImageData, sdk.Image)):
        required = {name for name, field in theirs.model_fields.items() if field.is_required()}
        assert required <= set(ours.model_fields)
        assert set(ours.model_fields) <= set(theirs.model_fields)
    body = dump(ImagesResponse(created=1, data=[ImageData(b64_json="AAAA")], size="64x64", output_format="png"))
    parsed = sdk.ImagesResponse.model_validate(body)
    assert parsed.data[0].b64_json == "AAAA" and parsed.data[0].url is None and "url" not in body["data"][0]


def chat(content, role="user"):
    return ChatCompletionRequest(messages=[{"role": role, "content": content}])


def test_image_parts_render_as_placeholders_in_order():
    request = chat(
        [
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
            {"type": "image_url", "image_url": "data:image/png;base64,AAAA"},  # the URL alone, as some clients send
        ]
    )
    assert request.image_urls() == ["https://example.com/a.png", "data:image/png;base64,AAAA"]
    content = request.chat_prompt().messages[0]["content"]
    assert content == [{"type": "text", "text": "Compare"}, {"type": "image"}, {"type": "image"}]
    assert chat("plain").chat_prompt().messages[0]["content"] == "plain"  # no images: a string as before


@pytest.mark.parametrize(
    ("content", "role", "message"),
    [
        ([{"type": "image_url"}], "user", "needs image_url.url"),
        ([{"type": "image_url", "image_url": {"url": ""}}], "user", "at least 1 character"),
        ([{"type": "image_url", "image_url": {"url": "https://x/a.png"}}], "system", "user messages only"),
        ([{"type": "input_audio", "input_audio": {}}], "user", "not supported"),
    ],
)
def test_bad_image_parts_are_rejected(content, role, message):
    with pytest.raises(ValidationError, match=message):
        chat(content, role)


def test_generation_request_sizes_quality_and_defaults():
    request = ImageGenerationRequest(prompt="a cat")
    assert request.dimensions("512x512") == (512, 512) and request.response_format is None
    assert ImageGenerationRequest(prompt="a cat", size="1792x1024").dimensions("512x512") == (1792, 1024)
    assert ImageGenerationRequest(prompt="a cat", quality="hd").steps(20) == 40
    assert ImageGenerationRequest(prompt="a cat", quality="low").steps(1) == 1
    assert ImageGenerationRequest(prompt="a cat", quality="hd", num_inference_steps=3).steps(20) == 3
    for bad in ({"size": "1024"}, {"size": "axb"}, {"n": 11}, {"prompt": ""}, {"num_inference_steps": 0}):
        with pytest.raises(ValidationError):
            ImageGenerationRequest(**{"prompt": "a cat", **bad})
    assert ImageGenerationRequest(prompt="a cat", style="vivid", moderation="low").model_extra  # ignored, not refused


@pytest.fixture
def new_images(backend, tmp_path):
    """A factory of generated-image stores over one place: `new_images(ttl)`."""
    if backend is None:
        return lambda ttl: GeneratedImages(tmp_path, ttl)
    return lambda ttl: PostgresImages(backend, ttl)


async def test_generated_images_are_served_by_name_until_they_expire(new_images):
    store = new_images(60)
    name = await store.put(b"\x89PNG...", "png")
    data, media_type, left = await new_images(60).get(name)  # another worker or frontend
    assert data == b"\x89PNG..." and media_type == "image/png" and 0 < left <= 60
    for bad in ("../secret.png", name.replace(".png", ".gif"), "img-xyz.png", "img-" + "0" * 32 + ".png"):
        with pytest.raises(FileNotFound):
            await store.get(bad)
    short = new_images(1)
    brief = await short.put(b"RIFF....WEBP", "webp")
    assert (await short.get(brief))[1] == "image/webp"
    await asyncio.sleep(2.1)
    with pytest.raises(FileNotFound):
        await short.get(brief)
    assert (await store.get(name))[0] == b"\x89PNG..."  # the longer-lived one is still there


def test_expired_image_files_are_removed(tmp_path):
    store = GeneratedImages(tmp_path, ttl=60)
    name = store.save(b"\x89PNG...", "png")
    path, _, _ = store.path(name)
    old = time.time() - 120
    os.utime(path, (old, old))
    with pytest.raises(FileNotFound):
        store.path(name)
    assert not path.exists()
