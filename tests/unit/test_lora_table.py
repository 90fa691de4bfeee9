"""triton_openai.frontend.lora: the adapter table that every worker (or frontend, on PostgreSQL) shares."""

from __future__ import annotations

import pytest

from triton_openai.frontend import lora_postgres, watched_file
from triton_openai.frontend.lora import Adapter, AdapterFile, AdapterTable, parse_lora_flags
from triton_openai.frontend.lora_postgres import PostgresAdapters


def test_lora_flags():
    adapters = parse_lora_flags(["a=/x/a", "b=/x/b, c=/x/c"])
    assert [a.name for a in adapters.values()] == ["a", "b", "c"] and adapters["b"].path == "/x/b"
    for bad in ("a", "=/x", "a="):
        with pytest.raises(ValueError, match="name=folder"):
            parse_lora_flags([bad])


@pytest.fixture
def new_runtime(backend, tmp_path, monkeypatch):
    """A factory of runtime adapter stores over one place, as each worker (or frontend) has its own."""
    monkeypatch.setattr(watched_file, "RECHECK_SECONDS", 0.0)
    monkeypatch.setattr(lora_postgres, "RECHECK_SECONDS", 0.0)
    if backend is None:
        return lambda: AdapterFile(tmp_path)
    return lambda: PostgresAdapters(backend)


async def test_runtime_adapters_are_seen_by_every_worker(new_runtime):
    static = parse_lora_flags(["fixed=/x/fixed"])
    first, second = AdapterTable(static, new_runtime()), AdapterTable(static, new_runtime())
    await first.add(Adapter("new", "/x/new", "base"))
    assert (await second.all())["new"] == Adapter("new", "/x/new", "base") and "fixed" in await second.all()
    await first.add(Adapter("new", "/x/newer", None))  # loaded again: replaced
    assert (await second.all())["new"] == Adapter("new", "/x/newer", None)
    await second.remove("new")
    await second.remove("never-there")
    assert set(await first.all()) == {"fixed"}


async def test_postgres_adapters_outlive_an_outage_read_from_the_last_table(postgres, database):
    runtime = PostgresAdapters(database)
    await runtime.add(Adapter("kept", "/x/kept", None))
    postgres.stop()
    try:
        assert await runtime.current(fresh=True) == {"kept": Adapter("kept", "/x/kept", None)}
        with pytest.raises(Exception, match="database is unavailable"):
            await runtime.add(Adapter("other", "/x/other", None))
    finally:
        postgres.start()
