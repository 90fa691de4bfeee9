"""triton_openai.frontend.triton.pool over test doubles of Triton (FakeTriton: named as a fake, tests only)."""

from __future__ import annotations

import asyncio

import pytest

from triton_openai.frontend import errors
from triton_openai.frontend.triton.jobs import GenerationJob
from triton_openai.frontend.triton.pool import TritonPool


class FakeTriton:
    """A stand-in for one Triton server: counts calls, can be 'down', streams on demand."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.down = False
        self.calls = 0
        self.release = asyncio.Event()

    async def ready(self) -> bool:
        return not self.down

    async def models(self):
        self._check()
        return [self.url]

    async def tokenize(self, model, prompt):
        self._check()
        return [1]

    async def generate(self, model, job, request_id):
        self._check()
        await self.release.wait()
        yield self.url
        yield self.url

    async def close(self) -> None:
        pass

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise errors.BackendUnavailable(f"{self.url} is down")


def pool_of(n: int, **kwargs) -> tuple[TritonPool, list[FakeTriton]]:
    pool = TritonPool([f"t{i}:8001" for i in range(n)], engine_factory=FakeTriton, **kwargs)
    return pool, [m.engine for m in pool.members]


def test_streams_go_to_the_server_with_fewest_in_flight():
    async def run():
        pool, fakes = pool_of(3, health_interval=60)
        streams = [pool.generate("m", GenerationJob([1]), "r") for _ in range(6)]
        firsts = [asyncio.ensure_future(s.__anext__()) for s in streams]
        await asyncio.sleep(0.01)
        busy = [m.outstanding for m in pool.members]
        for fake in fakes:
            fake.release.set()
        served = await asyncio.gather(*firsts)
        for stream in streams:
            await stream.aclose()
        await pool.close()
        return busy, served, [m.outstanding for m in pool.members]

    busy, served, after = asyncio.run(run())
    assert busy == [2, 2, 2] and sorted(served) == ["t0:8001"] * 2 + ["t1:8001"] * 2 + ["t2:8001"] * 2
    assert after == [0, 0, 0]


def test_a_dead_server_is_skipped_and_comes_back():
    async def run():
        pool, fakes = pool_of(2, health_interval=0.05)
        fakes[0].down = True
        answers = [await pool.models() for _ in range(4)]  # the first call fails over, then t0 is avoided
        calls_while_down = fakes[0].calls
        fakes[0].down = False
        await asyncio.sleep(0.2)  # the health check marks it healthy again
        later = {tuple(await pool.models()) for _ in range(4)}
        await pool.close()
        return answers, calls_while_down, later

    answers, calls_while_down, later = asyncio.run(run())
    assert answers == [["t1:8001"]] * 4 and calls_while_down == 1
    assert later == {("t0:8001",), ("t1:8001",)}


def test_a_stream_fails_over_only_before_its_first_chunk():
    async def run():
        pool, fakes = pool_of(2, health_interval=60)
        for fake in fakes:
            fake.release.set()
        fakes[0].down = True
        chunks = [c async for c in pool.generate("m", GenerationJob([1]), "r")]
        fakes[1].down = True
        with pytest.raises(errors.BackendUnavailable):
            await pool.models()
        ready = await pool.ready()
        await pool.close()
        return chunks, ready

    chunks, ready = asyncio.run(run())
    assert chunks == ["t1:8001", "t1:8001"] and ready is False


@pytest.mark.parametrize(
    "message, error",
    [
        ("[invalid_request] max_tokens is too large", errors.InvalidRequest),
        ("in ensemble: [overloaded] the queue is full", errors.Overloaded),
        ("failed to connect to all addresses", errors.BackendUnavailable),
        ("Server not ready", errors.BackendUnavailable),  # shutting down: another server takes the request
        ("Request for unknown model: 'x' is not found", errors.BackendUnavailable),
        ("CUDA out of memory", errors.ServerError),
    ],
)
def test_tritons_messages_become_our_errors(message, error):
    from triton_openai.frontend.triton.client import _from_message

    mapped = _from_message(message)
    assert type(mapped) is error
    if error is errors.InvalidRequest:
        assert mapped.message == "max_tokens is too large"  # the tag and Triton's prefix gone
