"""A limit on request bodies: 413 in the route's error envelope, before a large body is read."""

from __future__ import annotations

from typing import Any

from triton_openai.frontend import errors


class BodySizeLimit:
    """ASGI middleware. A declared Content-Length over the limit is refused at once; a
    chunked body is counted as it arrives: past the limit the client gets the 413 and the
    app sees the client leave (whatever it answers is dropped)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes, scope["path"])
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
                if received > self.max_bytes and not started:
                    rejected = True
                    await _too_large(send, self.max_bytes, scope["path"])
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
