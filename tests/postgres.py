"""A real PostgreSQL 16 with pgvector for the tests, from the `pgserver` wheel (test extra).

The wheel ships the server's binaries and pgvector; `PostgresServer` runs them itself
(initdb into a temporary folder, then `postgres` on a free loopback port) so that a test
can stop and start the server at will. PostgreSQL refuses to run as root: as root (CI),
the binaries are copied where the `nobody` user can read them and the server runs as
`nobody`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from triton_openai.launch.tritonserver import die_with_parent, free_port

UNPRIVILEGED = "nobody"


def _binaries() -> Path:
    """The pgserver wheel's bin/ (pgserver.libs, its shared libraries, lies beside the package)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        pytest.skip("the PostgreSQL tests need the pgserver wheel (pip install -e '.[test]')")
    return Path(spec.origin).parent / "pginstall" / "bin"


class PostgresServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.bin = self._readable_binaries(_binaries())
        self.process: subprocess.Popen[bytes] | None = None
        self.data.mkdir()
        self._as_server_user(self.data)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port)]
                + ["-k", str(self.data), "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self._user(),
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"postgres exited:\n{self.log.read_text()[-3000:]}") from None
                time.sleep(0.1)
        raise RuntimeError(f"postgres not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """A fast shutdown (SIGINT): sessions are ended, as when a database server goes down."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def create_schema(self, name: str) -> str:
        """A URL whose tables live in a new schema of the `postgres` database (faster than a database).

        pgvector is created in `public` first, which the schema's search path also holds."""
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            db.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url}?options=-csearch_path%3D{name},public"

    def sql(self, database_url: str, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(database_url) as db:
            return db.execute(query, params).fetchall()

    # -- running as root ----------------------------------------------------------------------

    @staticmethod
    def _user() -> str | None:
        return UNPRIVILEGED if os.geteuid() == 0 else None

    def _readable_binaries(self, binaries: Path) -> Path:
        if self._user() is None:
            return binaries
        # bin/ finds lib/ and share/ beside it, and its rpath ../../../pgserver.libs: copy that layout.
        package = binaries.parent.parent
        copy = self.root / "pgserver-copy"
        shutil.copytree(package / "pginstall", copy / "pgserver" / "pginstall", symlinks=True)
        shutil.copytree(package.parent / "pgserver.libs", copy / "pgserver.libs", symlinks=True)
        for folder in (self.root, copy):
            folder.chmod(0o755)
        return copy / "pgserver" / "pginstall" / "bin"

    def _as_server_user(self, folder: Path) -> None:
        if self._user() is not None:
            shutil.chown(folder, user=UNPRIVILEGED)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / program), *args], capture_output=True, text=True, user=self._user(), cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed:\n{result.stdout}\n{result.stderr}")


def started_postgres() -> PostgresServer:
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="triton-openai-pg-")))
    server.start()
    return server
