"""Limits on request bodies: 413 in the route's error envelope (Anthropic's on /v1/messages,
OpenAI's elsewhere), before a large body is read.

Uploads (multipart forms: files, audio) may be as large as --max-request-bytes. Every other
body is JSON, whose parsing holds the event loop: it gets its own, tighter limit, sized from
what a request can usefully carry (`JsonBodyLimit`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from triton_openai.frontend import errors
from triton_openai.frontend.triton.base import ModelKind, ServedModel

_FORM_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")
# JSON's worst case per character of prompt text (`\uXXXX`), and room for the rest of a request
# (tools and their schemas, sampling fields).
_BYTES_PER_CHARACTER = 6
_SLACK_BYTES = 1024 * 1024
_UNKNOWN_CHARS_PER_TOKEN = 32  # a model that does not say (it tokenizes inside its engine)
_UNKNOWN_MODELS_BYTES = 16 * 1024 * 1024  # before the served models are known


class JsonBodyLimit:
    """The largest JSON body: --max-json-bytes, or sized from the served models: the longest
    prompt a context takes (tokens × characters per token, escaped) plus, when a model takes
    images, the images a chat request may carry (base64)."""

    def __init__(self, fixed: int, max_images: int, max_image_bytes: int) -> None:
        self.fixed = fixed
        self.image_bytes = max_images * max_image_bytes * 4 // 3 + 4 * max_images  # base64 and padding
        self.models: Callable[[], list[ServedModel]] = list  # the registry's listing, once there is one

    def __call__(self) -> int:
        if self.fixed:
            return self.fixed
        llms = [m for m in self.models() if m.kind == ModelKind.LLM]
        if not llms:
            return _UNKNOWN_MODELS_BYTES
        characters = max((m.max_model_len or 0) * (m.max_chars_per_token or _UNKNOWN_CHARS_PER_TOKEN) for m in llms)
        images = self.image_bytes if any(m.accepts_images for m in llms) else 0
        return characters * _BYTES_PER_CHARACTER + _SLACK_BYTES + images


class BodySizeLimit:
    """ASGI middleware. A declared Content-Length over the limit is refused at once; a
    chunked body is counted as it arrives: past the limit the client gets the 413 and the
    app sees the client leave (whatever it answers is dropped)."""

    def __init__(self, app: Any, max_bytes: int, json_limit: Callable[[], int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.json_limit = json_limit

    def _limit(self, scope: dict[str, Any]) -> int:
        content_type = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), b"")
        if self.json_limit is None or content_type.lower().startswith(_FORM_TYPES):
            return self.max_bytes
        return min(self.max_bytes, self.json_limit())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit, scope["path"])
            return
        received = 0
        rejected = started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not started:
                    rejected = True
                    await _too_large(send, limit, scope["path"])
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if rejected:
                return
            started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def _too_large(send: Any, limit: int, path: str) -> None:
    error = errors.PayloadTooLarge(f"the request body is over the limit of {limit} bytes")
    await errors.send_error(send, error, path=path)
