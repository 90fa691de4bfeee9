"""The SQLite response store: persistence, owners, replacement, crafted ids, retention by count and age."""

import asyncio
import time

import pytest

from frontend.response_store.sqlite_store import SQLiteResponseStore
from frontend.response_store.store import ResponseNotFound, Retention, StoredResponse
from frontend.serving.response_items import new_id

KEEP_ALL = Retention(max_count=1000, max_age_s=3600)


def run(coroutine):
    return asyncio.run(coroutine)


def stored(owner="alice", created_at=None, status="completed", response_id=None):
    response_id = response_id or new_id("resp")
    created = int(time.time()) if created_at is None else created_at
    items = [
        {"id": new_id("msg"), "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]
    return StoredResponse(response_id, owner, created, {"id": response_id, "status": status}, items, items)


def test_responses_survive_a_new_store_on_the_same_folder(tmp_path):
    kept = stored()
    run(SQLiteResponseStore(tmp_path, KEEP_ALL).put(kept))
    assert run(SQLiteResponseStore(tmp_path, KEEP_ALL).get("alice", kept.id)) == kept


def test_owners_see_only_their_responses(tmp_path):
    store = SQLiteResponseStore(tmp_path, KEEP_ALL)
    kept = stored()
    run(store.put(kept))
    for call in (store.get, store.delete):
        with pytest.raises(ResponseNotFound):
            run(call("bob", kept.id))
    with pytest.raises(ResponseNotFound):  # nor can another owner overwrite it
        run(store.put(stored(owner="bob", response_id=kept.id)))
    run(store.delete("alice", kept.id))
    with pytest.raises(ResponseNotFound):
        run(store.get("alice", kept.id))


def test_a_put_replaces_the_response_of_the_same_id(tmp_path):
    store = SQLiteResponseStore(tmp_path, KEEP_ALL)
    first = stored(status="in_progress")
    run(store.put(first))
    run(store.put(stored(status="cancelled", response_id=first.id)))
    assert run(store.get("alice", first.id)).response["status"] == "cancelled"


@pytest.mark.parametrize("crafted", ["resp_x", "../responses.sqlite3", "resp_" + "0" * 47 + "/", "", "' OR 1=1 --"])
def test_crafted_ids_are_never_looked_up(tmp_path, crafted):
    store = SQLiteResponseStore(tmp_path, KEEP_ALL)
    for call in (store.get, store.delete):
        with pytest.raises(ResponseNotFound):
            run(call("alice", crafted))


def test_the_oldest_go_beyond_the_count_limit(tmp_path):
    store = SQLiteResponseStore(tmp_path, Retention(max_count=3, max_age_s=3600))
    kept = [stored(owner=f"owner-{i % 2}") for i in range(5)]
    for response in kept:
        run(store.put(response))
    for response in kept[:2]:
        with pytest.raises(ResponseNotFound):
            run(store.get(response.owner, response.id))
    assert [run(store.get(r.owner, r.id)).id for r in kept[2:]] == [r.id for r in kept[2:]]


def test_responses_past_the_age_limit_are_gone(tmp_path):
    store = SQLiteResponseStore(tmp_path, Retention(max_count=100, max_age_s=60))
    old, young = stored(created_at=int(time.time()) - 120), stored()
    run(store.put(old))
    with pytest.raises(ResponseNotFound):  # past the age limit: never served
        run(store.get("alice", old.id))
    run(store.put(young))
    assert run(store.get("alice", young.id)) == young


def test_only_a_running_response_is_settled(tmp_path):
    store = SQLiteResponseStore(tmp_path, KEEP_ALL)
    running = stored(status="in_progress")
    run(store.put(running))
    assert run(store.settle(stored(status="cancelled", response_id=running.id)))
    assert not run(store.settle(stored(status="completed", response_id=running.id)))  # cancelled meanwhile
    assert run(store.get("alice", running.id)).response["status"] == "cancelled"
    assert not run(store.settle(stored(owner="bob", status="completed", response_id=running.id)))
