"""Errors the API answers with, each rendered in OpenAI's envelope.

    APIError                      (status, OpenAI `type`, `code`, `param`)
    ├── InvalidRequest            400 invalid_request_error
    │   ├── Unauthorized          401 invalid_request_error / invalid_api_key
    │   ├── ModelNotFound         404 invalid_request_error / model_not_found
    │   ├── ObjectNotFound        404 invalid_request_error
    │   ├── RouteNotFound         404 invalid_request_error / not_found
    │   └── PayloadTooLarge       413 invalid_request_error / payload_too_large
    ├── Overloaded                429 rate_limit_error / server_overloaded (Retry-After)
    └── ServerError               500 server_error
        ├── BackendUnavailable    503 server_error / backend_unavailable (Retry-After)
        ├── DatabaseUnavailable   503 server_error / database_unavailable (Retry-After)
        └── Timeout               504 server_error / timeout

The envelope is `{"error": {"message", "type", "param", "code"}}`, as the OpenAI SDKs
parse it into `openai.BadRequestError` and friends. Routes of Anthropic's Messages API
(/v1/messages...) answer in Anthropic's envelope instead, `{"type": "error", "error":
{"type", "message"}}` with Anthropic's error types, which its SDK parses
(`envelope_for` picks one by path).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class APIError(Exception):
    status_code = 500
    type = "server_error"
    code: str | None = None
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def envelope(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


# The code of an InvalidRequest for a prompt that does not fit (OpenAI's).
CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"


class InvalidRequest(APIError):
    """The request is malformed or asks for something out of range."""

    status_code = 400
    type = "invalid_request_error"


class Unauthorized(InvalidRequest):
    """No API key, or a wrong one."""

    status_code = 401


class ModelNotFound(InvalidRequest):
    """The `model` names nothing this server serves."""

    status_code = 404
    code = "model_not_found"

    def __init__(self, model: str, message: str | None = None) -> None:
        super().__init__(message or f"The model `{model}` does not exist.", param="model")


class ObjectNotFound(InvalidRequest):
    """An id (a file's) that the caller has no object for."""

    status_code = 404


class RouteNotFound(InvalidRequest):
    status_code = 404
    code = "not_found"


class PayloadTooLarge(InvalidRequest):
    """An upload or body over the size limit."""

    status_code = 413
    code = "payload_too_large"


class Overloaded(APIError):
    """The engine's queue is full: retry later."""

    status_code = 429
    type = "rate_limit_error"
    code = "server_overloaded"
    headers = {"Retry-After": "1"}


class ServerError(APIError):
    """Something failed on our side."""


class BackendUnavailable(ServerError):
    """Triton cannot be reached, or the model is not ready."""

    status_code = 503
    code = "backend_unavailable"
    headers = {"Retry-After": "5"}


class DatabaseUnavailable(ServerError):
    """The database server (PostgreSQL) cannot be reached; requests that do not need it go on."""

    status_code = 503
    code = "database_unavailable"
    headers = {"Retry-After": "2"}


class Timeout(ServerError):
    """The request took longer than --request-timeout; its work was cancelled."""

    status_code = 504
    code = "timeout"


def from_validation_errors(details: Sequence[Any]) -> InvalidRequest:
    """A 400 naming the first field pydantic rejected (as OpenAI names a bad parameter)."""
    first = details[0] if details else {}
    if first.get("type") == "json_invalid":
        return InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload.)"
        )
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    # Unions add the variant's type name to the location (e.g. messages.0.str); keep the fields.
    param = ".".join(location) or None
    message = first.get("msg", "invalid request")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return InvalidRequest(f"{param}: {message}" if param else message, param=param)


ANTHROPIC_PATH = "/v1/messages"
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def anthropic_envelope(error: APIError) -> dict[str, Any]:
    kind = _ANTHROPIC_TYPES.get(error.status_code, "api_error" if error.status_code >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}


def is_anthropic(path: str) -> bool:
    return path == ANTHROPIC_PATH or path.startswith(ANTHROPIC_PATH + "/")


def envelope_for(path: str, error: APIError) -> dict[str, Any]:
    """The error in the envelope of the API family whose route `path` is."""
    return anthropic_envelope(error) if is_anthropic(path) else error.envelope()


async def send_error(send: Any, error: APIError, headers: Sequence[tuple[bytes, bytes]] = (), path: str = "") -> None:
    """Answer with `error` in the envelope of `path`'s API straight from ASGI middleware (before any route)."""
    body = json.dumps(envelope_for(path, error)).encode("utf-8")
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": error.status_code, "headers": start})
    await send({"type": "http.response.body", "body": body})
