"""The one SSE writer: each chunk as an event, an error event if the stream fails, in the
framing of the API family that streams.

- OpenAI chat and completions: `data: {json}` events, then `data: [DONE]`.
- OpenAI Responses: `event: <type>` + `data: {json}` per event, no [DONE]; a failure is
  an `error` event.
- Anthropic Messages: `event: <type>` + `data: {json}`; a failure is an `error` event in
  Anthropic's envelope.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.responses import StreamingResponse

from triton_openai.frontend.errors import APIError, ServerError, anthropic_envelope

logger = logging.getLogger(__name__)


def _responses_error(error: APIError) -> dict[str, Any]:
    return {"type": "error", "code": error.code or error.type, "message": error.message, "param": error.param}


@dataclass(frozen=True)
class Framing:
    named: bool  # an `event: <the chunk's type>` line before each data line
    done: bool  # `data: [DONE]` at the end
    error: Callable[[APIError], dict[str, Any]]  # the data of the event that tells a failure


OPENAI = Framing(named=False, done=True, error=APIError.envelope)
RESPONSES = Framing(named=True, done=False, error=_responses_error)
ANTHROPIC = Framing(named=True, done=False, error=anthropic_envelope)


def _event(framing: Framing, name: str, data: str) -> str:
    return f"event: {name}\ndata: {data}\n\n" if framing.named else f"data: {data}\n\n"


async def _events(chunks: AsyncIterator[BaseModel], framing: Framing) -> AsyncIterator[str]:
    try:
        async for chunk in chunks:
            yield _event(framing, str(getattr(chunk, "type", "")), chunk.model_dump_json())
    except APIError as exc:
        yield _event(framing, "error", json.dumps(framing.error(exc)))
    except Exception:  # noqa: BLE001 - the client still gets an error event (and [DONE])
        logger.exception("stream failed")
        yield _event(framing, "error", json.dumps(framing.error(ServerError("internal error while streaming"))))
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    if framing.done:
        yield "data: [DONE]\n\n"


def sse_response(chunks: AsyncIterator[BaseModel], framing: Framing = OPENAI) -> StreamingResponse:
    return StreamingResponse(
        _events(chunks, framing),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
