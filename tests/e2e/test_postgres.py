"""Two frontends on one PostgreSQL, as two pods would be (separate `serve` processes over the
session's Triton): what one stores the other serves (files, documents, adapters, stored
responses), owners stay apart, and the database can go down and come back under load."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx
import openai
import pytest

from tests.e2e.conftest import MODEL, start_server, wait_for
from tests.e2e.test_cancellation import LLM
from tests.e2e.test_documents import wait_processed
from tests.e2e.test_lora import make_adapter

pytestmark = pytest.mark.slow

KEYS = ("key-alice", "key-bob")
ADMIN = "key-admin"
FACT = b"The lighthouse of Orsk was painted green in 1907 by the keeper Ilse Varn.\n"


@pytest.fixture(scope="module")
def database_url(postgres):
    return postgres.create_database("frontends")


@pytest.fixture(scope="module")
def frontends(tmp_path_factory, server, database_url):
    """Frontends A and B: API keys for alice and bob, an admin key, one database."""
    args = ("--triton-url", server.grpc_url, "--database-url", database_url)
    keys = ("--api-keys", ",".join(KEYS), "--admin-api-keys", ADMIN)
    running = []
    try:
        for name in ("a", "b"):
            running.append(start_server(tmp_path_factory.mktemp(f"pg-{name}"), *args, *keys))
        yield running
    finally:
        for frontend in running:
            frontend.stop()


def client(frontend, key=KEYS[0]) -> openai.OpenAI:
    return openai.OpenAI(base_url=frontend.base_url + "/v1", api_key=key, max_retries=0, timeout=120)


def sources(api, question):
    answer = api.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        max_tokens=4,
        temperature=0,
        extra_body={"langchain_mode": "UserData", "top_k_docs": 2},
    )
    return (answer.choices[0].message.model_extra or {}).get("sources") or []


def test_a_file_uploaded_through_one_frontend_is_served_by_the_other(frontends, postgres, database_url):
    a, b = client(frontends[0]), client(frontends[1])
    stored = a.files.create(file=("lighthouse.txt", FACT), purpose="user_data")
    assert stored.id in [f.id for f in b.files.list()]
    assert b.files.content(stored.id).content == FACT
    assert wait_processed(b, stored.id).status == "processed"
    question = [{"type": "text", "text": "What colour is the lighthouse?"}]
    with_file = b.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": stored.id}}, *question]}],
        max_tokens=1,
    )
    plain = b.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=1)
    assert with_file.usage.prompt_tokens > plain.usage.prompt_tokens + 15  # B read the bytes A stored
    for api in (a, b):  # document Q&A through either finds it
        assert [s["file_id"] for s in sources(api, "Who painted the lighthouse of Orsk?")] == [stored.id]
    # The bytes and chunks are in PostgreSQL, not in either frontend's folder.
    assert postgres.sql(database_url, "SELECT bytes FROM files WHERE id = %s", (stored.id,)) == [(len(FACT),)]
    assert not list(frontends[0].log.parent.glob("files-*/blobs/*"))

    # Another key sees nothing of it on either frontend.
    for frontend in frontends:
        bob = client(frontend, KEYS[1])
        with pytest.raises(openai.NotFoundError):
            bob.files.retrieve(stored.id)
        with pytest.raises(openai.NotFoundError):
            bob.files.delete(stored.id)
        assert stored.id not in [f.id for f in bob.files.list()]
        assert sources(bob, "Who painted the lighthouse of Orsk?") == []

    assert b.files.delete(stored.id).deleted
    with pytest.raises(openai.NotFoundError):
        a.files.retrieve(stored.id)
    assert sources(a, "Who painted the lighthouse of Orsk?") == []
    assert postgres.sql(database_url, "SELECT count(*) FROM document_chunks WHERE file_id = %s", (stored.id,)) == [(0,)]


def test_an_adapter_loaded_through_one_frontend_serves_through_the_other(frontends, tmp_path, model_dir):
    adapter = str(make_adapter(model_dir, tmp_path / "gamma", 3, ["q_proj", "v_proj"]))
    a, b = client(frontends[0]), client(frontends[1])
    headers = {"Authorization": f"Bearer {ADMIN}"}
    loaded = httpx.post(
        frontends[0].base_url + "/v1/load_lora_adapter",
        json={"lora_name": "pg-gamma", "lora_path": adapter},
        headers=headers,
        timeout=120,
    )
    assert loaded.status_code == 200, loaded.text
    try:
        prompt = {"prompt": "The ocean is", "max_tokens": 8, "temperature": 0}
        through_b = b.completions.create(model="pg-gamma", **prompt)  # B had never heard of it
        assert through_b.model == "pg-gamma"
        assert through_b.choices[0].text == a.completions.create(model="pg-gamma", **prompt).choices[0].text
        assert through_b.choices[0].text != b.completions.create(model=MODEL, **prompt).choices[0].text
        assert "pg-gamma" in {m.id for m in b.models.list()}
    finally:
        unloaded = httpx.post(
            frontends[1].base_url + "/v1/unload_lora_adapter",
            json={"lora_name": "pg-gamma"},
            headers=headers,
            timeout=60,
        )
    assert unloaded.status_code == 200, unloaded.text
    assert wait_for(lambda: "pg-gamma" not in {m.id for m in a.models.list()}, timeout=15)


def test_a_response_stored_through_one_frontend_is_continued_and_cancelled_through_the_other(
    frontends, server, postgres, database_url
):
    a, b = client(frontends[0]), client(frontends[1])
    greedy = {"model": MODEL, "temperature": 0}
    first = a.responses.create(input="Name a colour.", max_output_tokens=4, **greedy)
    assert b.responses.retrieve(first.id).output_text == first.output_text
    follow = b.responses.create(input="And another?", previous_response_id=first.id, max_output_tokens=4, **greedy)
    assert follow.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens  # A's turn came first
    assert [item.id for item in a.responses.input_items.list(follow.id).data] == [
        item.id for item in b.responses.input_items.list(follow.id).data
    ]
    for frontend in frontends:  # another key's ids are unknown on either
        with pytest.raises(openai.NotFoundError):
            client(frontend, KEYS[1]).responses.retrieve(first.id)

    # A background response generated by A, cancelled through B: A's worker stops it.
    cancelled = server.metric("llm_engine_requests_cancelled_total", LLM)
    body = {"input": "Tell me a long story.", "background": True, "max_output_tokens": 2000}
    running = a.responses.create(**body, extra_body={"ignore_eos": True}, **greedy)
    assert wait_for(lambda: server.metric("llm_engine_requests_running", LLM) == 1)
    assert b.responses.cancel(running.id).status == "cancelled"
    assert wait_for(lambda: server.metric("llm_engine_requests_cancelled_total", LLM) == cancelled + 1)
    assert wait_for(lambda: server.metric("llm_engine_requests_running", LLM) == 0)
    assert a.responses.retrieve(running.id).status == "cancelled"

    b.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        a.responses.retrieve(first.id)
    count = "SELECT count(*) FROM responses WHERE id = ANY(%s)"
    assert postgres.sql(database_url, count, ([first.id, follow.id, running.id],)) == [(2,)]


def test_the_database_restarted_under_load(frontends, postgres, database_url):
    """503 with Retry-After while it is down (and only from routes that need it), all served
    after, and no upload lost or duplicated, no chunk twice."""
    outcomes: list[tuple[str, str, int]] = []  # (phase, kind, status)
    uploaded: list[str] = []
    phase = ["before"]
    stop = threading.Event()
    https = [
        httpx.Client(base_url=f.base_url, headers={"Authorization": f"Bearer {KEYS[0]}"}, timeout=60) for f in frontends
    ]

    def record(kind, http, method, path, **request):
        sent_in = phase[0]
        response = http.request(method, path, **request)
        # A request counts in the phase it was sent in, or "stopping" if the stop came while it ran.
        outcomes.append((sent_in if phase[0] == sent_in else f"{sent_in}+", kind, response.status_code))
        if response.status_code == 503:
            body = response.json()["error"]
            assert body["code"] == "database_unavailable" and response.headers["retry-after"], body
        return response

    def uploads(worker):
        number = 0
        while not stop.is_set() and number < 300:  # bounded; about 15 s of load in all
            data = f"Note {worker}-{number}: the tide table of harbour {worker} lists {number} ships.".encode()
            files = {"file": (f"{worker}-{number}.txt", data)}
            response = record(
                "upload", https[number % 2], "POST", "/v1/files", files=files, data={"purpose": "user_data"}
            )
            if response.status_code == 200:
                uploaded.append(response.json()["id"])
            record("list", https[(number + 1) % 2], "GET", "/v1/files", params={"limit": 5})
            number += 1
            time.sleep(0.1)

    def chats(worker):
        number = 0
        while not stop.is_set() and number < 600:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
            record("chat", https[(worker + number) % 2], "POST", "/v1/chat/completions", json=body)
            number += 1

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        running = [pool.submit(uploads, 0), pool.submit(uploads, 1), pool.submit(chats, 0), pool.submit(chats, 1)]
        time.sleep(3)
        phase[0] = "down"
        postgres.stop()
        time.sleep(6)  # longer than a request waits on the pool
        phase[0] = "restarting"
        postgres.start()
        assert wait_for(lambda: https[0].get("/v1/files", params={"limit": 1}).status_code == 200, timeout=30)
        assert wait_for(lambda: https[1].get("/v1/files", params={"limit": 1}).status_code == 200, timeout=30)
        phase[0] = "after"
        time.sleep(3)
        stop.set()
        for future in running:
            future.result()
    for http in https:
        http.close()

    def statuses(wanted_phase, kinds):
        return {status for p, kind, status in outcomes if p == wanted_phase and kind in kinds}

    database_routes = ("upload", "list")
    assert statuses("before", ("upload", "list", "chat")) == {200}, outcomes
    assert 503 in statuses("down", database_routes)  # the database was needed and missing
    for stopping in ("before+", "down", "down+", "restarting", "restarting+"):
        assert statuses(stopping, database_routes) <= {200, 503}, outcomes
    chat_phases = {p for p, kind, _ in outcomes if kind == "chat"}
    assert set.union(*(statuses(p, ("chat",)) for p in chat_phases)) == {200}  # chat never needed it
    assert statuses("after", ("upload", "list", "chat")) == {200}, outcomes
    assert sum(1 for p, kind, _ in outcomes if p == "after" and kind == "upload") > 0

    # Every upload that was answered 200 is there once, and ingested once.
    api = client(frontends[0])
    listed = [f.id for f in api.files.list()]
    assert len(listed) == len(set(listed)) and set(uploaded) <= set(listed)
    for file_id in uploaded:
        assert wait_processed(api, file_id, timeout=180).status == "processed", file_id
    rows = postgres.sql(
        database_url,
        "SELECT f.file_id, f.chunks_total, count(c.id), count(DISTINCT c.chunk_index) FROM document_files f"
        " LEFT JOIN document_chunks c USING (owner, collection, file_id) WHERE f.file_id = ANY(%s)"
        " GROUP BY f.file_id, f.chunks_total",
        (uploaded,),
    )
    assert len(rows) == len(uploaded)
    assert all(total == chunks == distinct >= 1 for _, total, chunks, distinct in rows), rows
    parts = postgres.sql(
        database_url,
        "SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM file_parts p WHERE p.file_id = f.id)",
    )
    assert parts == [(0,)]  # no file row without its bytes
