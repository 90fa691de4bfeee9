"""triton_openai.frontend.database on a real PostgreSQL: migrations under concurrent starts, and outages."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from triton_openai.frontend import errors
from triton_openai.frontend.database import postgres as pg
from triton_openai.frontend.database.migrations import Migration, migrate, migrations
from triton_openai.frontend.database.postgres import Database, redacted
from triton_openai.frontend.settings import Settings
from triton_openai.frontend.stores import open_stores


def test_migrations_are_numbered_in_order():
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert {"files", "documents", "lora_adapters"} <= {m.name for m in found}


async def test_concurrent_starts_apply_each_migration_once(schema_url):
    async def start() -> list[int]:
        async with await psycopg.AsyncConnection.connect(schema_url, autocommit=True) as connection:
            return await migrate(connection)

    applied = await asyncio.gather(*(start() for _ in range(4)))
    assert sorted(v for versions in applied for v in versions) == [m.version for m in migrations()]
    assert sum(1 for versions in applied if versions) == 1  # one start migrated, the others found it done
    async with await psycopg.AsyncConnection.connect(schema_url) as connection:
        rows = await (await connection.execute("SELECT version FROM schema_migrations ORDER BY version")).fetchall()
        assert [r[0] for r in rows] == [m.version for m in migrations()]
        # A later release's migration is applied on the next start, and only it.
    later = [*migrations(), Migration(99, "later", "CREATE TABLE later_table (x INTEGER)")]
    async with await psycopg.AsyncConnection.connect(schema_url, autocommit=True) as connection:
        assert await migrate(connection, later) == [99]
        assert await migrate(connection, later) == []


async def test_a_failing_migration_leaves_nothing(schema_url):
    broken = [Migration(1, "half", "CREATE TABLE half_made (x INTEGER); SELECT no_such_function()")]
    async with await psycopg.AsyncConnection.connect(schema_url, autocommit=True) as connection:
        with pytest.raises(psycopg.errors.UndefinedFunction):
            await migrate(connection, broken)
        cursor = await connection.execute("SELECT to_regclass('half_made') IS NULL, to_regclass('schema_migrations')")
        assert await cursor.fetchone() == (True, None)


async def test_settings_choose_the_store(schema_url, tmp_path):
    async with open_stores(Settings(database_url=schema_url)) as stores:
        assert stores.database is not None and type(stores.files).__name__ == "PostgresFileStore"
        assert type(stores.documents).__name__ == "PgVectorIndex"
        assert type(stores.responses).__name__ == "PostgresResponseStore"
    async with open_stores(Settings(database_url=f"sqlite:///{tmp_path}")) as stores:
        assert stores.database is None and type(stores.files).__name__ == "SQLiteFileStore"
        assert (tmp_path / "files.sqlite3").exists() and (tmp_path / "documents" / "documents.sqlite3").exists()
        assert type(stores.responses).__name__ == "SQLiteResponseStore" and (tmp_path / "responses.sqlite3").exists()


def test_passwords_stay_out_of_logs():
    assert redacted("postgresql://app:s3cret@db:5432/state") == "postgresql://app:***@db:5432/state"
    assert redacted("postgresql://db/state") == "postgresql://db/state"


async def test_an_outage_is_a_quick_503_and_the_pool_comes_back(postgres, database, monkeypatch):
    monkeypatch.setattr(pg, "PROBE_INTERVAL_S", 0.1)

    async def one() -> int:
        async with database.connection() as db:
            return (await (await db.execute("SELECT 1")).fetchone())[0]

    assert await asyncio.gather(*(one() for _ in range(4))) == [1] * 4  # connections in the pool
    postgres.stop()
    try:
        with pytest.raises(errors.DatabaseUnavailable) as raised:
            await one()
        assert raised.value.status_code == 503 and raised.value.headers["Retry-After"]
        await asyncio.sleep(0.5)  # the probe has found the server down
        assert not database.available
        started = time.monotonic()
        with pytest.raises(errors.DatabaseUnavailable):
            await one()
        assert time.monotonic() - started < 0.5  # answered at once, not after the pool's wait
    finally:
        postgres.start()
    deadline = time.monotonic() + 20
    while not database.available and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert database.available
    assert await asyncio.gather(*(one() for _ in range(8))) == [1] * 8  # no broken connection handed out


async def test_a_frontend_waits_for_the_database_at_start(postgres, schema_url):
    postgres.stop()
    opening = asyncio.create_task(Database.open(schema_url, pool_size=2, start_timeout=30))
    await asyncio.sleep(1.5)
    assert not opening.done()
    postgres.start()
    database = await asyncio.wait_for(opening, 30)
    try:
        async with database.connection() as db:
            assert (await (await db.execute("SELECT count(*) FROM schema_migrations")).fetchone())[0] == len(
                migrations()
            )
    finally:
        await database.close()
