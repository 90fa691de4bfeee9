"""Cancel a non-streamed request's work when its client goes away.

A streamed response notices the disconnect when it writes; a non-streamed one would
keep the engine busy until the whole answer is made. We race the work against the
client's `http.disconnect`, and cancel the work (and with it the Triton requests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from triton_openai.frontend import errors

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client closed the connection before the answer was ready."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """The work's result; cancelled if the client leaves, or after the app's request timeout (504)."""
    timeout = getattr(request.app.state, "request_timeout", None) or None
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if not done:
        raise errors.Timeout(f"the request took longer than {timeout:g} s and was cancelled")
    raise ClientDisconnected()
