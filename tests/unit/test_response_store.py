"""The response stores, SQLite and PostgreSQL alike: persistence, owners, replacement, crafted ids,
retention by count and age, settling a running response."""

import time

import pytest

from triton_openai.frontend.response_store.postgres_store import PostgresResponseStore
from triton_openai.frontend.response_store.sqlite_store import SQLiteResponseStore
from triton_openai.frontend.response_store.store import ResponseNotFound, Retention, StoredResponse
from triton_openai.frontend.serving.response_items import new_id

KEEP_ALL = Retention(max_count=1000, max_age_s=3600)


@pytest.fixture
def new_store(backend, tmp_path):
    """A factory of stores over one place (a folder, or a database): `new_store(retention)`."""
    if backend is None:
        return lambda retention=KEEP_ALL: SQLiteResponseStore(tmp_path, retention)
    return lambda retention=KEEP_ALL: PostgresResponseStore(backend, retention)


def stored(owner="alice", created_at=None, status="completed", response_id=None):
    response_id = response_id or new_id("resp")
    created = int(time.time()) if created_at is None else created_at
    items = [
        {"id": new_id("msg"), "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]
    response = {"id": response_id, "status": status, "object": "response"}
    return StoredResponse(response_id, owner, created, response, items, items)


async def test_responses_survive_a_new_store_on_the_same_place(new_store):
    kept = stored()
    await new_store().put(kept)
    again = await new_store().get("alice", kept.id)
    assert again == kept
    assert list(again.response) == ["id", "status", "object"]  # the keys in the order the API gave them


async def test_owners_see_only_their_responses(new_store):
    store = new_store()
    kept = stored()
    await store.put(kept)
    for call in (store.get, store.delete):
        with pytest.raises(ResponseNotFound):
            await call("bob", kept.id)
    with pytest.raises(ResponseNotFound):  # nor can another owner overwrite it
        await store.put(stored(owner="bob", response_id=kept.id))
    await store.delete("alice", kept.id)
    with pytest.raises(ResponseNotFound):
        await store.get("alice", kept.id)


async def test_a_put_replaces_the_response_of_the_same_id(new_store):
    store = new_store()
    first = stored(status="in_progress")
    await store.put(first)
    await store.put(stored(status="cancelled", response_id=first.id))
    assert (await store.get("alice", first.id)).response["status"] == "cancelled"


@pytest.mark.parametrize("crafted", ["resp_x", "../responses.sqlite3", "resp_" + "0" * 47 + "/", "", "' OR 1=1 --"])
async def test_crafted_ids_are_never_looked_up(new_store, crafted):
    store = new_store()
    for call in (store.get, store.delete):
        with pytest.raises(ResponseNotFound):
            await call("alice", crafted)


async def test_the_oldest_go_beyond_the_count_limit(new_store):
    store = new_store(Retention(max_count=3, max_age_s=3600))
    kept = [stored(owner=f"owner-{i % 2}") for i in range(5)]
    for response in kept:
        await store.put(response)
    for response in kept[:2]:
        with pytest.raises(ResponseNotFound):
            await store.get(response.owner, response.id)
    assert [(await store.get(r.owner, r.id)).id for r in kept[2:]] == [r.id for r in kept[2:]]


async def test_responses_past_the_age_limit_are_gone(new_store):
    store = new_store(Retention(max_count=100, max_age_s=60))
    old, young = stored(created_at=int(time.time()) - 120), stored()
    await store.put(old)
    with pytest.raises(ResponseNotFound):  # past the age limit: never served
        await store.get("alice", old.id)
    await store.put(young)
    assert await store.get("alice", young.id) == young


async def test_only_a_running_response_is_settled(new_store):
    store = new_store()
    running = stored(status="in_progress")
    await store.put(running)
    assert await store.settle(stored(status="cancelled", response_id=running.id))
    assert not await store.settle(stored(status="completed", response_id=running.id))  # cancelled meanwhile
    assert (await store.get("alice", running.id)).response["status"] == "cancelled"
    assert not await store.settle(stored(owner="bob", status="completed", response_id=running.id))
