"""Workers that open a new database together all start (triton_openai.frontend.sqlite_wal)."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from triton_openai.frontend.documents.index import SqliteVecIndex
from triton_openai.frontend.files.sqlite_store import SQLiteFileStore
from triton_openai.frontend.sqlite_wal import connect, use_wal


class LockedTwice:
    """A connection double whose first two journal-mode switches meet another worker's lock."""

    OperationalError = sqlite3.OperationalError

    def __init__(self, error: str = "database is locked") -> None:
        self.error = error
        self.calls = 0

    def execute(self, statement: str) -> None:
        self.calls += 1
        if self.calls <= 2:
            raise sqlite3.OperationalError(self.error)


def test_use_wal_retries_while_another_worker_holds_the_lock():
    db = LockedTwice()
    use_wal(db)
    assert db.calls == 3


def test_use_wal_raises_other_errors_at_once():
    db = LockedTwice("disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        use_wal(db)
    assert db.calls == 1


def test_the_mode_stays_wal_for_later_connections(tmp_path):
    SQLiteFileStore(tmp_path, quota_bytes=1000)
    assert connect(sqlite3, tmp_path / "files.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _open(kind: str, directory: str, barrier) -> None:
    barrier.wait()
    SQLiteFileStore(directory, 10**6) if kind == "files" else SqliteVecIndex(directory)


@pytest.mark.parametrize("kind", ["files", "documents"])
def test_workers_opening_a_new_database_together_all_start(tmp_path, kind):
    context = multiprocessing.get_context("fork")
    failed = 0
    for trial in range(12):
        barrier = context.Barrier(4)
        workers = [context.Process(target=_open, args=(kind, str(tmp_path / str(trial)), barrier)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        failed += sum(worker.exitcode != 0 for worker in workers)
    assert failed == 0
