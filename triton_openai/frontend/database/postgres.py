"""One PostgreSQL database shared by every frontend: a pool of async connections, and outages.

`Database.open` waits for the server (up to START_TIMEOUT_S), applies the migrations and
opens a psycopg pool (each connection checked when taken, so connections a restart broke
are replaced, not handed out). `db.connection()` lends a connection for one transaction:
committed when the block ends, rolled back when it raises (so an upload cut off half-way
leaves nothing).

Outages: a connection that cannot be made or breaks (in a query, or in the pool's check)
starts a probe that tries a fresh connection every PROBE_INTERVAL_S, and the request gets
`errors.DatabaseUnavailable` (503 with Retry-After in the API's envelope). While the probe
fails, requests that need the database get the 503 at once (those already waiting on the
pool, after POOL_TIMEOUT_S at most), and requests that do not (chat, embeddings) never
notice. When the probe connects, a fresh pool replaces the one the outage broke and the
database is used again: no restart needed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from triton_openai.frontend import errors
from triton_openai.frontend.database.migrations import migrate

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # how long a starting frontend waits for the database
PROBE_INTERVAL_S = 0.5
POOL_TIMEOUT_S = 3.0  # longest wait for a pooled connection (then 503)
CONNECT_TIMEOUT_S = 5
# SQLSTATEs of a server going away: connection exceptions (08...), admin / crash shutdown,
# and "the database system is starting up" (57P03).
_OUTAGE_STATES = ("57P01", "57P02", "57P03")


def redacted(url: str) -> str:
    """The URL without its password (for logs and messages)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self.pool = self._new_pool()
        self._down = False
        self._probe: asyncio.Task[None] | None = None
        self._retired: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, url: str, pool_size: int = 10, start_timeout: float = START_TIMEOUT_S) -> Database:
        """Connect (waiting for the server to come up), migrate, and open the pool."""
        await _migrate_when_reachable(url, start_timeout)
        database = cls(url, pool_size)
        await database.pool.open(wait=True, timeout=start_timeout)
        return database

    def _new_pool(self) -> AsyncConnectionPool:
        return AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=max(1, self.pool_size),
            open=False,
            configure=_configure,
            check=self._check,
            timeout=POOL_TIMEOUT_S,
            kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
            name="triton-openai",
        )

    @property
    def available(self) -> bool:
        """False while an outage is known (the probe has not reached the server yet)."""
        return not self._down

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for one transaction; DatabaseUnavailable when the server cannot be reached."""
        if self._down:
            raise _unavailable()
        try:
            async with self.pool.connection() as connection:
                yield connection
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not _is_outage(exc):
                raise
            self._suspect(exc)
            raise _unavailable() from exc

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        await self.pool.close()
        await asyncio.gather(*self._retired, return_exceptions=True)

    async def _check(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """The pool's check of a connection it lends: a broken one means the server may be gone,
        which the probe finds out at once (so later requests need not wait on the pool)."""
        try:
            await AsyncConnectionPool.check_connection(connection)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._suspect(exc)
            raise

    def _suspect(self, exc: BaseException) -> None:
        if self._probe is None or self._probe.done():
            logger.warning("database unreachable (%s): answering 503 until it is back", exc)
            self._probe = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Mark the database down until a fresh connection works, then use a fresh pool."""
        while not await _reachable(self.url):
            self._down = True
            await asyncio.sleep(PROBE_INTERVAL_S)
        if not self._down:
            await self.pool.check()  # reachable all along: drop what broke (a quick restart)
            return
        # After an outage the old pool's own reconnection attempts may be backing off for
        # seconds, and requests would wait for them: start over with a new pool.
        old, self.pool = self.pool, self._new_pool()
        await self.pool.open(wait=False)
        retiring = asyncio.create_task(old.close())
        self._retired.add(retiring)
        retiring.add_done_callback(self._retired.discard)
        self._down = False
        logger.warning("database reachable again")


def _unavailable() -> errors.DatabaseUnavailable:
    return errors.DatabaseUnavailable("The database is unavailable; retry in a few seconds.")


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, psycopg.InterfaceError):
        return True  # a connection already closed under us
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith("08") or state in _OUTAGE_STATES


async def _configure(connection: psycopg.AsyncConnection[Any]) -> None:
    from pgvector.psycopg import register_vector_async

    await register_vector_async(connection)  # numpy arrays in and out of `vector` columns
    await connection.commit()  # the pool takes connections back idle only


async def _reachable(url: str) -> bool:
    try:
        connection = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
    except psycopg.OperationalError:
        return False
    try:
        await connection.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False
    finally:
        await connection.close()


async def _migrate_when_reachable(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot reach the database at {redacted(url)}: {exc}") from None
            logger.warning("waiting for the database at %s: %s", redacted(url), exc)
            await asyncio.sleep(1.0)
    async with connection:
        try:
            await migrate(connection)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise RuntimeError(
                f"migrating the database at {redacted(url)}: {exc} (the pgvector extension needs "
                "CREATE EXTENSION vector run once by a database owner or superuser)"
            ) from None
