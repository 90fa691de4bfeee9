"""The files stores, SQLite and PostgreSQL alike: persistence, owners, ids, pagination, quota,
uploads that are all or nothing; file text for prompts."""

import asyncio

import pytest

from tests.pdf import text_pdf
from triton_openai.frontend import errors
from triton_openai.frontend.files import postgres_store
from triton_openai.frontend.files.postgres_store import PostgresFileStore
from triton_openai.frontend.files.sqlite_store import SQLiteFileStore
from triton_openai.frontend.files.store import FileNotFound, QuotaExceeded, valid_id
from triton_openai.frontend.serving.file_parts import extract_text


@pytest.fixture
def new_store(backend, tmp_path):
    """A factory of stores over one place (a folder, or a database): `new_store(quota_bytes)`."""
    if backend is None:
        return lambda quota: SQLiteFileStore(tmp_path, quota)
    return lambda quota: PostgresFileStore(backend, quota)


async def stream(store, owner, file_id) -> bytes:
    return b"".join([part async for part in store.stream(owner, file_id)])


async def test_files_survive_a_new_store_on_the_same_place(new_store):
    stored = await new_store(10_000).create("alice", "a.txt", "user_data", b"hello")
    again = new_store(10_000)
    assert await again.get("alice", stored.id) == stored
    assert await again.read("alice", stored.id) == b"hello" == await stream(again, "alice", stored.id)
    assert valid_id(stored.id)


async def test_large_files_come_back_byte_for_byte(new_store, monkeypatch):
    monkeypatch.setattr(postgres_store, "PART_BYTES", 1000)  # several parts on PostgreSQL
    data = bytes(range(256)) * 20 + b"tail"
    store = new_store(1_000_000)
    stored = await store.create("alice", "blob.bin", "batch", data)
    assert stored.bytes == len(data)
    assert await store.read("alice", stored.id) == data == await stream(store, "alice", stored.id)


async def test_owners_see_only_their_files(new_store):
    store = new_store(10_000)
    stored = await store.create("alice", "a.txt", "user_data", b"hello")
    for call in (store.get, store.read, store.delete):
        with pytest.raises(FileNotFound):
            await call("bob", stored.id)
    with pytest.raises(FileNotFound):
        await stream(store, "bob", stored.id)
    assert await store.list("bob", purpose=None, limit=10, after=None, order="desc") == ([], False)
    with pytest.raises(FileNotFound):
        await store.list("bob", purpose=None, limit=10, after=stored.id, order="desc")
    await store.delete("alice", stored.id)
    with pytest.raises(FileNotFound):
        await store.read("alice", stored.id)
    with pytest.raises(FileNotFound):
        await store.delete("alice", stored.id)


@pytest.mark.parametrize("crafted", ["../files.sqlite3", "/etc/passwd", "file-\x00abc", "file-" + "a" * 23 + "/", ""])
async def test_crafted_ids_are_never_looked_up(new_store, crafted):
    store = new_store(10_000)
    for call in (store.get, store.read, store.delete):
        with pytest.raises(FileNotFound):
            await call("alice", crafted)


async def test_pages_newest_first_with_after_and_purpose(new_store):
    store = new_store(10_000)
    ids = [(await store.create("alice", f"{i}.txt", "user_data" if i % 2 else "batch", b"x")).id for i in range(5)]
    page, more = await store.list("alice", purpose=None, limit=2, after=None, order="desc")
    assert [f.id for f in page] == [ids[4], ids[3]] and more
    page, more = await store.list("alice", purpose=None, limit=2, after=ids[3], order="desc")
    assert [f.id for f in page] == [ids[2], ids[1]] and more
    page, more = await store.list("alice", purpose="user_data", limit=10, after=None, order="asc")
    assert [f.id for f in page] == [ids[1], ids[3]] and not more


async def test_quota_per_owner(new_store):
    store = new_store(10)
    await store.create("alice", "a", "user_data", b"123456")
    with pytest.raises(QuotaExceeded, match="quota is 10 bytes"):
        await store.create("alice", "b", "user_data", b"123456")
    await store.create("bob", "b", "user_data", b"123456")  # bob has his own quota
    files, _ = await store.list("alice", purpose=None, limit=10, after=None, order="desc")
    assert [f.filename for f in files] == ["a"]  # the refused upload left nothing


async def test_concurrent_uploads_never_overrun_the_quota(new_store):
    stores = [new_store(10) for _ in range(2)]  # as two frontends would
    uploads = [stores[i % 2].create("alice", f"{i}", "user_data", b"1234") for i in range(6)]
    results = await asyncio.gather(*uploads, return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 2  # 2 x 4 bytes fit in 10
    assert all(isinstance(r, QuotaExceeded) for r in results if isinstance(r, BaseException))


async def test_an_upload_cut_off_half_way_leaves_nothing(database, monkeypatch):
    """Cancelled while its parts were being written (a client gone): no row, no part."""
    monkeypatch.setattr(postgres_store, "PART_BYTES", 1)
    store = PostgresFileStore(database, 10**9)
    upload = asyncio.create_task(store.create("alice", "big.bin", "batch", b"x" * 200_000))
    for _ in range(500):  # until its transaction is writing parts
        async with database.connection() as db:
            cursor = await db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO file_parts%%'"
            )
            if (await cursor.fetchone())[0]:
                break
        await asyncio.sleep(0.01)
    assert not upload.done()
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    async with database.connection() as db:
        counts = await (
            await db.execute("SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM file_parts)")
        ).fetchone()
    assert counts == (0, 0)
    assert await store.list("alice", purpose=None, limit=10, after=None, order="desc") == ([], False)


def test_sqlite_keeps_bytes_in_files_and_a_refused_upload_leaves_none(tmp_path):
    store = SQLiteFileStore(tmp_path, 10)
    stored = asyncio.run(store.create("alice", "a", "user_data", b"123456"))
    assert (tmp_path / "blobs" / stored.id).read_bytes() == b"123456"
    with pytest.raises(QuotaExceeded):
        asyncio.run(store.create("alice", "b", "user_data", b"123456"))
    assert [p.name for p in (tmp_path / "blobs").iterdir()] == [stored.id]  # no temporary file either
    asyncio.run(store.delete("alice", stored.id))
    assert not (tmp_path / "blobs" / stored.id).exists()


def test_text_of_text_files_and_pdfs():
    assert extract_text("notes.md", "# Title\nümlaut".encode()) == "# Title\nümlaut"
    assert "pineapple" in extract_text("doc.pdf", text_pdf("The secret word is pineapple."))
    with pytest.raises(errors.InvalidRequest, match="neither UTF-8 text"):
        extract_text("image.png", b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(errors.InvalidRequest, match="as a PDF"):
        extract_text("broken.pdf", b"%PDF-1.4 nothing else")
