"""Chat with images and image generation through the real stack, on tiny random models
the tests build (tests/tiny_models.py): a LLaVA-style vision model and a Stable Diffusion
pipeline, served from their folders as a user's real models would be."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import threading

import httpx
import openai
import pytest
from PIL import Image

from tests.e2e.conftest import MODEL, start_server
from tests.tiny_models import VLM_IMAGE_TOKENS, make_tiny_stable_diffusion, make_tiny_vlm

pytestmark = pytest.mark.slow

VLM, SD = "tiny-vlm", "tiny-sd"


def png(color: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return make_tiny_vlm(root / "vlm"), make_tiny_stable_diffusion(root / "sd")


@pytest.fixture(scope="module")
def media_server(tmp_path_factory, folders):
    """The default LLM, the tiny vision model and the tiny image model; image URLs on
    loopback are allowed (the test HTTP server runs there)."""
    vlm, sd = folders
    running = start_server(
        tmp_path_factory.mktemp("media-server"),
        "--vision-model",
        f"{VLM}={vlm}",
        "--image-model",
        f"{SD}={sd}",
        "--image-default-steps",
        "2",
        "--allow-private-image-urls",
        "--generated-image-ttl",
        "60",
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(media_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=media_server.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=120)


class _Images(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[str, bytes]] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/red.png")
            self.end_headers()
            return
        content_type, body = self.routes.get(self.path, ("text/plain", b"not found"))
        self.send_response(200 if self.path in self.routes else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def image_host():
    """A local HTTP server with a PNG, a page that is not an image, and a redirect."""
    _Images.routes = {"/red.png": ("image/png", png("red")), "/page.html": ("text/html", b"<html></html>")}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def ask(client, content, **kwargs):
    return client.chat.completions.create(
        model=kwargs.pop("model", VLM),
        messages=[{"role": "user", "content": content}],
        max_tokens=kwargs.pop("max_tokens", 8),
        temperature=0,
        **kwargs,
    )


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url, "detail": "low"}}


# -- vision ---------------------------------------------------------------------------------


def test_models_lists_the_configured_vision_and_image_models(client):
    ids = {m.id for m in client.models.list().data}
    assert {MODEL, VLM, SD} <= ids


def test_chat_with_a_data_uri_image(client):
    text_only = ask(client, [{"type": "text", "text": "What is this?"}])
    with_image = ask(client, [image_part(data_uri(png("red"))), {"type": "text", "text": "What is this?"}])
    assert with_image.choices[0].finish_reason == "length"
    assert with_image.usage.completion_tokens == 8
    # The image reached the model: its tokens are in the prompt.
    assert with_image.usage.prompt_tokens == text_only.usage.prompt_tokens + VLM_IMAGE_TOKENS
    two = ask(
        client,
        [image_part(data_uri(png("red"))), image_part(data_uri(png("blue"))), {"type": "text", "text": "Compare."}],
    )
    assert two.usage.prompt_tokens > with_image.usage.prompt_tokens + VLM_IMAGE_TOKENS - 2


def test_the_image_changes_the_answer_and_the_same_image_repeats_it(client):
    def answer(color):
        content = [image_part(data_uri(png(color, (64, 64)))), {"type": "text", "text": "Describe it."}]
        return ask(client, content, max_tokens=12, extra_body={"ignore_eos": True}).choices[0].message.content

    red = answer("red")
    assert answer("red") == red
    assert answer("white") != red


def test_chat_with_an_http_image_url(client, image_host):
    response = ask(client, [image_part(f"{image_host}/red.png"), {"type": "text", "text": "What is this?"}])
    text_only = ask(client, "What is this?")
    assert response.usage.prompt_tokens == text_only.usage.prompt_tokens + VLM_IMAGE_TOKENS
    redirected = ask(client, [image_part(f"{image_host}/redirect"), {"type": "text", "text": "What is this?"}])
    assert redirected.usage.prompt_tokens == response.usage.prompt_tokens


def test_streaming_with_an_image(client):
    stream = client.chat.completions.create(
        model=VLM,
        messages=[{"role": "user", "content": [image_part(data_uri(png("red"))), {"type": "text", "text": "Hi"}]}],
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert chunks[-1].usage.completion_tokens == 6
    whole = ask(client, [image_part(data_uri(png("red"))), {"type": "text", "text": "Hi"}], max_tokens=6)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content


def test_a_text_only_model_refuses_images(client):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, [image_part(data_uri(png("red"))), {"type": "text", "text": "What?"}], model=MODEL)
    assert f"`{MODEL}` does not accept image input" in caught.value.message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("data:image/png;base64,not-base64!", "not valid base64"),
        ("data:text/plain;base64,aGVsbG8=", "data:image/<type>;base64"),
        ("ftp://example.com/cat.png", "neither an http(s) URL"),
        ("data:image/png;base64," + base64.b64encode(b"not an image").decode(), "could not be decoded"),
    ],
)
def test_bad_images_are_400(client, url, message):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, [image_part(url), {"type": "text", "text": "What?"}])
    assert message in caught.value.message


def test_a_url_that_is_not_an_image_is_400(client, image_host):
    for path, message in (("/page.html", "not an image"), ("/missing.png", "HTTP 404")):
        with pytest.raises(openai.BadRequestError) as caught:
            ask(client, [image_part(image_host + path), {"type": "text", "text": "What?"}])
        assert message in caught.value.message


def test_private_addresses_are_refused_unless_allowed(tmp_path, folders, image_host):
    vlm, _ = folders
    server = start_server(tmp_path, "--model", "none", "--vision-model", f"{VLM}={vlm}")
    try:
        guarded = openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY", max_retries=0)
        for url in (f"{image_host}/red.png", "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/x.png"):
            with pytest.raises(openai.BadRequestError) as caught:
                ask(guarded, [image_part(url), {"type": "text", "text": "What?"}])
            assert "private, loopback or reserved address" in caught.value.message
        # A data URI needs no fetch: still served.
        assert ask(guarded, [image_part(data_uri(png("red")))]).usage.completion_tokens == 8
    finally:
        server.stop()


# -- image generation -----------------------------------------------------------------------


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_generation_returns_n_pngs_of_the_size_asked(client):
    result = client.images.generate(model=SD, prompt="a red square", n=2, size="64x48", response_format="b64_json")
    assert len(result.data) == 2
    for item in result.data:
        image = decode(item.b64_json)
        assert image.format == "PNG" and image.size == (64, 48)
    assert result.size == "64x48"


def test_the_same_seed_gives_the_same_bytes(client):
    def generate(seed):
        result = client.images.generate(
            model=SD, prompt="a cat", size="32x32", response_format="b64_json", extra_body={"seed": seed}
        )
        return hashlib.sha256(base64.b64decode(result.data[0].b64_json)).hexdigest()

    assert generate(7) == generate(7)
    assert generate(7) != generate(8)


def test_extra_body_knobs_and_output_format(client):
    result = client.images.generate(
        model="dall-e-3",  # OpenAI's names reach the first image model
        prompt="a cat",
        size="32x32",
        output_format="jpeg",
        extra_body={"seed": 1, "guidance_scale": 1.5, "num_inference_steps": 3, "negative_prompt": "dog"},
    )
    assert decode(result.data[0].b64_json).format == "JPEG"


def test_url_response_serves_the_png(client, media_server):
    result = client.images.generate(model=SD, prompt="a cat", size="32x32", response_format="url")
    url = result.data[0].url
    assert url.startswith(media_server.base_url + "/v1/images/img-")
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (32, 32)
    missing = httpx.get(media_server.base_url + "/v1/images/img-" + "0" * 32 + ".png")
    assert missing.status_code == 404 and "expire" in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    ("size", "message"),
    [("big", "WIDTHxHEIGHT"), ("33x32", "multiple of 2"), ("8192x8192", "between"), ("0x64", "between")],
)
def test_bad_sizes_are_400(client, size, message):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model=SD, prompt="a cat", size=size)
    assert message in caught.value.message


def test_image_requests_for_missing_or_wrong_models(client):
    with pytest.raises(openai.NotFoundError):
        client.images.generate(model="no-such-model", prompt="a cat")
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model=MODEL, prompt="a cat")
    assert "not an image generation model" in caught.value.message


def test_vision_model_missing_when_not_configured(server):
    guarded = openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY", max_retries=0)
    assert VLM not in {m.id for m in guarded.models.list().data}
    with pytest.raises(openai.NotFoundError):
        ask(guarded, [image_part(data_uri(png("red")))])


def test_image_generation_without_an_image_model_is_404(server):
    plain = openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY", max_retries=0)
    for model in (None, "dall-e-3"):
        with pytest.raises(openai.NotFoundError):
            plain.images.generate(prompt="a cat", **({"model": model} if model else {}))
