"""The model list is fetched once, then refreshed beside the requests: a request never waits for
the backend's model list once there is one, and a failed refresh keeps the last list."""

from __future__ import annotations

import asyncio

import pytest

from triton_openai.frontend.serving import registry as registry_module
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import ModelKind, ServedModel


class SlowBackend:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail = False

    async def models(self) -> list[ServedModel]:
        self.calls += 1
        if self.calls > 1:
            await self.release.wait()
        if self.fail:
            raise RuntimeError("backend gone")
        return [ServedModel(name=f"m{self.calls}", kind=ModelKind.LLM, created=0, has_chat_template=True)]


@pytest.mark.parametrize("fail", [False, True])
async def test_a_stale_list_is_served_while_it_refreshes(monkeypatch, fail):
    backend = SlowBackend()
    models = ModelRegistry(backend)
    assert [m.name for m in await models.list()] == ["m1"]  # the first fetch is awaited
    monkeypatch.setattr(registry_module, "_REFRESH_SECONDS", 0.0)
    backend.fail = fail
    assert [m.name for m in await asyncio.wait_for(models.list(), 1)] == ["m1"]  # stale, not waiting
    assert [m.name for m in await asyncio.wait_for(models.list(), 1)] == ["m1"]  # one refresh at a time
    backend.release.set()
    await asyncio.sleep(0.01)
    assert backend.calls == 2
    assert [m.name for m in await models.list()] == (["m1"] if fail else ["m2"])
