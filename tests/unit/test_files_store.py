"""The SQLite files store: persistence, owners, ids, pagination, quota; file text for prompts."""

import asyncio

import pytest

from tests.pdf import text_pdf
from triton_openai.frontend import errors
from triton_openai.frontend.files.sqlite_store import SQLiteFileStore
from triton_openai.frontend.files.store import FileNotFound, QuotaExceeded, valid_id
from triton_openai.frontend.serving.file_parts import extract_text


def run(coroutine):
    return asyncio.run(coroutine)


def test_files_survive_a_new_store_on_the_same_folder(tmp_path):
    stored = run(SQLiteFileStore(tmp_path, 10_000).create("alice", "a.txt", "user_data", b"hello"))
    again = SQLiteFileStore(tmp_path, 10_000)
    assert run(again.get("alice", stored.id)) == stored
    assert run(again.path("alice", stored.id)).read_bytes() == b"hello"
    assert valid_id(stored.id) and not list((tmp_path / "blobs").glob(".upload-*"))


def test_owners_see_only_their_files(tmp_path):
    store = SQLiteFileStore(tmp_path, 10_000)
    stored = run(store.create("alice", "a.txt", "user_data", b"hello"))
    for call in (store.get, store.path, store.delete):
        with pytest.raises(FileNotFound):
            run(call("bob", stored.id))
    assert run(store.list("bob", purpose=None, limit=10, after=None, order="desc")) == ([], False)
    run(store.delete("alice", stored.id))
    assert not (tmp_path / "blobs" / stored.id).exists()


@pytest.mark.parametrize("crafted", ["../files.sqlite3", "/etc/passwd", "file-\x00abc", "file-" + "a" * 23 + "/", ""])
def test_crafted_ids_are_never_looked_up(tmp_path, crafted):
    with pytest.raises(FileNotFound):
        run(SQLiteFileStore(tmp_path, 10_000).path("alice", crafted))


def test_pages_newest_first_with_after_and_purpose(tmp_path):
    store = SQLiteFileStore(tmp_path, 10_000)
    ids = [run(store.create("alice", f"{i}.txt", "user_data" if i % 2 else "batch", b"x")).id for i in range(5)]
    page, more = run(store.list("alice", purpose=None, limit=2, after=None, order="desc"))
    assert [f.id for f in page] == [ids[4], ids[3]] and more
    page, more = run(store.list("alice", purpose=None, limit=2, after=ids[3], order="desc"))
    assert [f.id for f in page] == [ids[2], ids[1]] and more
    page, more = run(store.list("alice", purpose="user_data", limit=10, after=None, order="asc"))
    assert [f.id for f in page] == [ids[1], ids[3]] and not more


def test_quota_per_owner(tmp_path):
    store = SQLiteFileStore(tmp_path, 10)
    run(store.create("alice", "a", "user_data", b"123456"))
    with pytest.raises(QuotaExceeded, match="quota is 10 bytes"):
        run(store.create("alice", "b", "user_data", b"123456"))
    run(store.create("bob", "b", "user_data", b"123456"))  # bob has his own quota
    assert len(list((tmp_path / "blobs").iterdir())) == 2  # the refused upload left no bytes


def test_text_of_text_files_and_pdfs():
    assert extract_text("notes.md", "# Title\nümlaut".encode()) == "# Title\nümlaut"
    assert "pineapple" in extract_text("doc.pdf", text_pdf("The secret word is pineapple."))
    with pytest.raises(errors.InvalidRequest, match="neither UTF-8 text"):
        extract_text("image.png", b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(errors.InvalidRequest, match="as a PDF"):
        extract_text("broken.pdf", b"%PDF-1.4 nothing else")
