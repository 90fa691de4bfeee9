"""The one SSE writer: `data: {json}` events, an error event if the stream fails, then [DONE]."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from pydantic import BaseModel
from starlette.responses import StreamingResponse

from triton_openai.frontend.errors import APIError, ServerError

logger = logging.getLogger(__name__)


async def _events(chunks: AsyncIterator[BaseModel]) -> AsyncIterator[str]:
    try:
        async for chunk in chunks:
            yield f"data: {chunk.model_dump_json()}\n\n"
    except APIError as exc:
        yield f"data: {json.dumps(exc.envelope())}\n\n"
    except Exception:  # noqa: BLE001 - the client still gets an error event and [DONE]
        logger.exception("stream failed")
        yield f"data: {json.dumps(ServerError('internal error while streaming').envelope())}\n\n"
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    yield "data: [DONE]\n\n"


def sse_response(chunks: AsyncIterator[BaseModel]) -> StreamingResponse:
    return StreamingResponse(
        _events(chunks),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
