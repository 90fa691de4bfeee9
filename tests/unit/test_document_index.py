"""The document indexes, sqlite-vec and pgvector alike, with handmade vectors (no model):
search order, owners and collections apart, the ingestion state machine, refusals."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from triton_openai.frontend.documents.index import FileNotIndexed, Hit, SqliteVecIndex, ThreadedIndex
from triton_openai.frontend.documents.pgvector_index import PgVectorIndex


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


async def _ingest(index, owner, collection, file_id, filename, texts, vectors):
    await index.start_file(owner, collection, file_id, filename, len(texts))
    return await index.add_file(owner, collection, file_id, texts, np.stack(vectors))


@pytest.fixture
def new_index(backend, tmp_path):
    """A factory of indexes over one place (a folder, or a database), as each frontend has its own."""
    if backend is None:
        return lambda: ThreadedIndex(SqliteVecIndex(tmp_path))
    return lambda: PgVectorIndex(backend)


@pytest.fixture
async def index(new_index):
    """Three files of alice's in "docs", each with chunks along its own axis of 4 dimensions."""
    index = new_index()
    a = [_unit(1, 0, 0, 0), _unit(1, 0.2, 0, 0)]
    await _ingest(index, "alice", "docs", "file-a", "apples.txt", ["apples 0", "apples 1"], a)
    b = [_unit(0, 1, 0, 0), _unit(0, 1, 0.3, 0)]
    await _ingest(index, "alice", "docs", "file-b", "boats.md", ["boats 0", "boats 1"], b)
    await _ingest(index, "alice", "docs", "file-c", "clouds.pdf", ["clouds 0"], [_unit(0, 0, 1, 0)])
    return index


async def test_nearest_chunk_comes_first(index):
    hits = await index.search("alice", "docs", _unit(0.05, 1, 0.28, 0), top_k=3)
    assert [(h.file_id, h.chunk_index) for h in hits] == [("file-b", 1), ("file-b", 0), ("file-c", 0)]
    assert hits[0] == Hit("file-b", "boats.md", 1, "boats 1", pytest.approx(hits[0].distance))
    assert hits[0].distance < 0.01 and [h.distance for h in hits] == sorted(h.distance for h in hits)
    top = await index.search("alice", "docs", [3.0, 0.0, 0.0, 0.0], top_k=1)  # not normalised: cosine anyway
    assert [(h.text, round(h.distance, 5)) for h in top] == [("apples 0", 0.0)]
    assert len(await index.search("alice", "docs", _unit(1, 1, 1, 1), top_k=50)) == 5


async def test_owners_and_collections_are_separate(index):
    await _ingest(index, "bob", "docs", "file-x", "bob.txt", ["bob's boats"], [_unit(0, 1, 0.3, 0)])
    await _ingest(index, "alice", "other", "file-y", "other.txt", ["other boats"], [_unit(0, 1, 0.3, 0)])
    hits = await index.search("alice", "docs", _unit(0, 1, 0.3, 0), top_k=10)
    assert {h.file_id for h in hits} == {"file-a", "file-b", "file-c"}
    assert [h.text for h in await index.search("bob", "docs", _unit(1, 0, 0, 0), top_k=10)] == ["bob's boats"]
    assert await index.search("carol", "docs", _unit(1, 0, 0, 0), top_k=10) == []
    assert [f.file_id for f in await index.list_files("bob", "docs")] == ["file-x"]
    with pytest.raises(FileNotIndexed):
        await index.get_file("bob", "docs", "file-a")
    assert await index.file_chunks("bob", "docs", ["file-a"]) == []
    assert await index.delete_file("bob", "file-a") is False  # bob cannot delete alice's file
    assert await index.remove_file("bob", "docs", "file-a") is False
    assert len(await index.search("alice", "docs", _unit(1, 0, 0, 0), top_k=10)) == 5


async def test_search_restricted_to_some_files(index):
    hits = await index.search("alice", "docs", _unit(1, 0.5, 0, 0), top_k=2, file_ids=["file-b", "file-c"])
    assert [(h.file_id, h.chunk_index) for h in hits] == [("file-b", 0), ("file-b", 1)]  # file-a is nearer, left out
    only_c = await index.search("alice", "docs", _unit(1, 0, 0, 0), 5, file_ids=["file-c"])
    assert [h.text for h in only_c] == ["clouds 0"]
    assert await index.search("alice", "docs", _unit(1, 0, 0, 0), 5, file_ids=[]) == []
    assert await index.search("alice", "docs", _unit(1, 0, 0, 0), 5, file_ids=["file-nope"]) == []


async def test_file_chunks_in_reading_order(index):
    chunks = await index.file_chunks("alice", "docs")
    assert [(h.filename, h.chunk_index, h.distance) for h in chunks] == [
        ("apples.txt", 0, 0.0),
        ("apples.txt", 1, 0.0),
        ("boats.md", 0, 0.0),
        ("boats.md", 1, 0.0),
        ("clouds.pdf", 0, 0.0),
    ]
    assert [h.text for h in await index.file_chunks("alice", "docs", ["file-b"], limit=1)] == ["boats 0"]


async def test_delete_removes_the_file_from_search_and_listing(index):
    await _ingest(index, "alice", "other", "file-a", "apples.txt", ["apples elsewhere"], [_unit(1, 0, 0, 0)])
    assert await index.delete_file("alice", "file-a") is True
    assert "file-a" not in {h.file_id for h in await index.search("alice", "docs", _unit(1, 0, 0, 0), top_k=10)}
    assert await index.search("alice", "other", _unit(1, 0, 0, 0), top_k=10) == []  # gone from every collection
    assert [f.file_id for f in await index.list_files("alice", "docs")] == ["file-b", "file-c"]
    assert await index.delete_file("alice", "file-a") is False
    assert await index.remove_file("alice", "docs", "file-b") is True
    assert [f.file_id for f in await index.list_files("alice", "docs")] == ["file-c"]


async def test_index_survives_reopening(index, new_index):
    again = new_index()
    assert [h.text for h in await again.search("alice", "docs", _unit(0, 0, 1, 0), top_k=1)] == ["clouds 0"]
    assert [(f.filename, f.status, f.chunks_total) for f in await again.list_files("alice", "docs")] == [
        ("apples.txt", "processed", 2),
        ("boats.md", "processed", 2),
        ("clouds.pdf", "processed", 1),
    ]


async def test_status_goes_in_progress_then_processed(new_index):
    index = new_index()
    started = await index.start_file("alice", "docs", "file-a", "a.txt", 3)
    assert (started.status, started.chunks_done, started.chunks_total, started.error) == ("in_progress", 0, 3, None)
    assert (await index.set_progress("alice", "docs", "file-a", 2)).chunks_done == 2
    assert await index.search("alice", "docs", _unit(1, 0), top_k=5) == []  # nothing searchable before it is processed
    done = await index.add_file("alice", "docs", "file-a", ["a", "b", "c"], np.eye(3, 2, dtype=np.float32) + 0.1)
    assert (done.status, done.chunks_done, done.chunks_total) == ("processed", 3, 3)
    assert await index.get_file("alice", "docs", "file-a") == done
    with pytest.raises(FileNotIndexed):  # a processed file takes no more chunks until started again
        await index.add_file("alice", "docs", "file-a", ["d"], [[1.0, 0.0]])


async def test_status_goes_to_error_and_restarting_drops_old_chunks(index):
    again = await index.start_file("alice", "docs", "file-a", "apples v2.txt", 4)
    assert again.status == "in_progress" and again.chunks_done == 0
    assert "file-a" not in {h.file_id for h in await index.search("alice", "docs", _unit(1, 0, 0, 0), top_k=10)}
    await index.fail_file("alice", "docs", "file-a", "the embedding model is not loaded")
    failed = await index.get_file("alice", "docs", "file-a")
    assert (failed.status, failed.error, failed.filename) == (
        "error",
        "the embedding model is not loaded",
        "apples v2.txt",
    )
    with pytest.raises(FileNotIndexed):
        await index.set_progress("alice", "docs", "file-a", 1)
    await index.fail_file("alice", "docs", "file-gone", "no such file: ignored")
    with pytest.raises(FileNotIndexed):
        await index.get_file("alice", "docs", "file-gone")


async def test_a_file_deleted_while_ingested_is_not_brought_back(new_index):
    index = new_index()
    await index.start_file("alice", "docs", "file-a", "a.txt", 1)
    await index.delete_file("alice", "file-a")
    with pytest.raises(FileNotIndexed):
        await index.set_progress("alice", "docs", "file-a", 1)
    with pytest.raises(FileNotIndexed):
        await index.add_file("alice", "docs", "file-a", ["a"], [[1.0, 0.0]])
    assert await index.list_files("alice", "docs") == []


async def test_bad_vectors_and_dimensions_are_refused(index):
    await index.start_file("alice", "docs", "file-d", "d.txt", 1)
    for texts, vectors, message in [
        (["one"], [[1.0, 0.0, 0.0]], "dimension 4, these have 3"),
        (["one", "two"], [[1.0, 0.0, 0.0, 0.0]], "2 chunks need as many vectors"),
        (["one"], [[0.0, 0.0, 0.0, 0.0]], "not all zero"),
        (["one"], [[float("nan"), 1.0, 0.0, 0.0]], "finite"),
        (["one"], [1.0, 0.0, 0.0, 0.0], "rows"),
    ]:
        with pytest.raises(ValueError, match=message):
            await index.add_file("alice", "docs", "file-d", texts, vectors)
    assert (await index.get_file("alice", "docs", "file-d")).status == "in_progress"  # a refused add changed nothing
    with pytest.raises(ValueError, match="dimension 4; the query has 2"):
        await index.search("alice", "docs", [1.0, 0.0], top_k=1)
    with pytest.raises(ValueError, match="top_k"):
        await index.search("alice", "docs", _unit(1, 0, 0, 0), top_k=0)
    # Another collection may hold another model's vectors.
    await _ingest(index, "alice", "small", "file-s", "s.txt", ["small"], [_unit(1, 0)])
    assert [h.text for h in await index.search("alice", "small", [1.0, 0.1], top_k=1)] == ["small"]


async def test_concurrent_ingestion_and_search(new_index):
    indexes = [new_index(), new_index()]  # two frontends (or workers) at once
    rng = np.random.default_rng(1)

    async def ingest(number: int) -> None:
        index, file_id = indexes[number % 2], f"file-{number}"
        await index.start_file("alice", "docs", file_id, f"{number}.txt", 3)
        vectors = rng.standard_normal((3, 8)).astype(np.float32)
        await index.add_file("alice", "docs", file_id, [f"{number}-{i}" for i in range(3)], vectors)

    await asyncio.gather(*(ingest(n) for n in range(8)))
    results = await asyncio.gather(
        *(indexes[n % 2].search("alice", "docs", rng.standard_normal(8), 4) for n in range(8))
    )
    assert all(len(hits) == 4 for hits in results)
    assert {f.status for f in await indexes[0].list_files("alice", "docs")} == {"processed"}
    assert len(await indexes[1].search("alice", "docs", rng.standard_normal(8), top_k=100)) == 24


def _ingest_in_a_process(directory: str, worker: int) -> int:
    index = SqliteVecIndex(directory)
    rng = np.random.default_rng(worker)
    for number in range(5):
        file_id = f"file-{worker}-{number}"
        index.start_file("alice", "docs", file_id, f"{file_id}.txt", 2)
        index.set_progress("alice", "docs", file_id, 1)
        index.add_file("alice", "docs", file_id, ["one", "two"], rng.standard_normal((2, 8)))
        index.search("alice", "docs", rng.standard_normal(8), top_k=3)
    return worker


def test_several_processes_share_the_sqlite_database(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert sorted(pool.map(_ingest_in_a_process, [str(tmp_path)] * 3, range(3))) == [0, 1, 2]
    index = SqliteVecIndex(tmp_path)
    assert [f.status for f in index.list_files("alice", "docs")] == ["processed"] * 15
    assert len(index.search("alice", "docs", np.ones(8), top_k=100)) == 30
    assert (tmp_path / "documents.sqlite3").exists()
