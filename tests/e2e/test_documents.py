"""Document Q&A through the real stack: files ingested by the embeddings model into the
sqlite-vec index, retrieved for chat with h2oGPT's parameters, per API key."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.e2e.conftest import MODEL, start_server

pytestmark = pytest.mark.slow

KEYS = ("key-alice", "key-bob")
DOCS = {
    "volcano.txt": "Mount Veyra is a volcano on the island of Tessel. It last erupted in 1893, "
    "covering the harbour town of Lumen in grey ash.",
    "recipe.md": "# Grandmother's bread\nThe dough rises for exactly 47 minutes in a warm kitchen, "
    "then bakes at 220 degrees until the crust is golden.",
    "company.csv": "name,founded,employees\nBrightgear Robotics,2011,340\n",
}


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory):
    running = start_server(
        tmp_path_factory.mktemp("docs-server"),
        "--api-keys",
        ",".join(KEYS),
        "--transcription-model",
        "none",
        "--speech-voice",
        "none",
        llm_only=False,
    )
    yield running
    running.stop()


def client_for(server, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def alice(docs_server):
    return client_for(docs_server, KEYS[0])


@pytest.fixture(scope="module")
def bob(docs_server):
    return client_for(docs_server, KEYS[1])


def wait_processed(client, file_id, timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = client.files.retrieve(file_id)
        if stored.status != "uploaded":
            return stored
        time.sleep(0.5)
    raise AssertionError(f"{file_id} still ingesting after {timeout} s")


@pytest.fixture(scope="module")
def uploaded(alice):
    ids = {}
    for name, text in DOCS.items():
        stored = alice.files.create(file=(name, text.encode()), purpose="user_data")
        assert stored.status == "uploaded"  # ingestion runs in the background
        ids[name] = stored.id
    for name, file_id in ids.items():
        assert wait_processed(alice, file_id).status == "processed", name
    return ids


def ask(client, question, **extra):
    return client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        max_tokens=16,
        temperature=0,
        extra_body={"langchain_mode": "UserData", **extra},
    )


def sources_of(message) -> list[dict]:
    return (message.model_extra or {}).get("sources") or []


def test_a_question_retrieves_the_chunk_that_holds_the_fact(alice, uploaded):
    for question, name in (
        ("When did the volcano Mount Veyra last erupt?", "volcano.txt"),
        ("How long does the bread dough rise?", "recipe.md"),
        ("How many employees does Brightgear Robotics have?", "company.csv"),
    ):
        sources = sources_of(ask(alice, question, top_k_docs=2).choices[0].message)
        assert len(sources) == 2
        assert sources[0]["filename"] == name and sources[0]["file_id"] == uploaded[name]
        assert sources[0]["index"] == 1 and sources[0]["score"] > sources[1]["score"]


def test_the_answer_streams_with_its_sources_first(alice, uploaded):
    stream = alice.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "When did Mount Veyra erupt?"}],
        max_tokens=12,
        temperature=0,
        stream=True,
        extra_body={"langchain_mode": "UserData", "top_k_docs": 1},
    )
    chunks = list(stream)
    first = sources_of(chunks[0].choices[0].delta)
    assert [s["filename"] for s in first] == ["volcano.txt"] and "1893" in first[0]["text"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_the_prompt_holds_the_sources(alice, uploaded):
    plain = alice.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "How long does the dough rise?"}], max_tokens=1
    )
    with_docs = ask(alice, "How long does the dough rise?", top_k_docs=1)
    assert with_docs.usage.prompt_tokens > plain.usage.prompt_tokens + 20


def test_document_choice_restricts_retrieval(alice, uploaded):
    answer = ask(alice, "When did the volcano erupt?", document_choice=["recipe.md"], top_k_docs=3)
    assert {s["filename"] for s in sources_of(answer.choices[0].message)} == {"recipe.md"}


def test_another_key_cannot_query_the_first_keys_documents(bob, uploaded):
    answer = ask(bob, "When did the volcano Mount Veyra last erupt?")
    assert sources_of(answer.choices[0].message) == []
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(uploaded["volcano.txt"])


def test_text_context_list_and_summaries(alice, uploaded):
    given = ask(alice, "What colour is the sky?", langchain_mode="LLM", text_context_list=["The sky is green here."])
    assert [s["text"] for s in sources_of(given.choices[0].message)] == ["The sky is green here."]
    summary = ask(alice, "Summarize the documents.", langchain_action="Summarize")
    assert {s["filename"] for s in sources_of(summary.choices[0].message)} == set(DOCS)
    assert summary.choices[0].message.content


def test_shared_collections(alice, bob, docs_server, uploaded):
    http = httpx.Client(base_url=docs_server.base_url, timeout=60)
    added = http.post(
        "/v1/collections/handbook/files",
        json={"file_id": uploaded["recipe.md"]},
        headers={"Authorization": f"Bearer {KEYS[0]}"},
    )
    assert added.status_code == 200 and added.json()["status"] == "in_progress"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = http.get("/v1/collections/handbook/files", headers={"Authorization": f"Bearer {KEYS[1]}"}).json()
        if listed["data"][0]["status"] != "in_progress":
            break
        time.sleep(0.5)
    assert listed["data"][0]["status"] == "processed"
    answer = ask(bob, "How long does the dough rise?", langchain_mode="handbook", top_k_docs=1)
    assert sources_of(answer.choices[0].message)[0]["filename"] == "recipe.md"  # any key reads a shared one
    refused = http.delete(
        f"/v1/collections/handbook/files/{uploaded['recipe.md']}", headers={"Authorization": f"Bearer {KEYS[1]}"}
    )
    assert refused.status_code == 404  # only the file's owner takes it out


def test_bad_document_parameters_are_400(alice, uploaded):
    with pytest.raises(openai.BadRequestError):
        ask(alice, "x", langchain_mode="no such/collection")
    with pytest.raises(openai.BadRequestError, match="document_choice"):
        ask(alice, "x", document_choice=["missing.pdf"])


def test_an_unreadable_file_reports_an_error_status(alice):
    stored = alice.files.create(file=("blob.bin", bytes(range(256)) * 4), purpose="user_data")
    failed = wait_processed(alice, stored.id)
    assert failed.status == "error" and "blob.bin" in failed.status_details


def test_a_large_file_ingests_in_the_background_and_deleting_removes_it(alice, uploaded):
    filler = "The committee discussed routine matters of the harbour schedule and the weather. " * 62
    paragraphs = [filler] * 1000
    paragraphs[500] = "The secret launch code of the observatory is Saffron Otter 42."
    text = "\n\n".join(paragraphs)
    assert len(text) > 5_000_000
    stored = alice.files.create(file=("minutes.txt", text.encode()), purpose="user_data")
    # Other requests are served while it ingests.
    answer = alice.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0
    )
    assert answer.choices[0].finish_reason is not None
    during = alice.files.retrieve(stored.id)
    assert during.status == "uploaded" and during.status_details.startswith("indexing:")
    assert wait_processed(alice, stored.id, timeout=600).status == "processed"
    hit = sources_of(ask(alice, "What is the observatory's secret launch code?").choices[0].message)[0]
    assert hit["file_id"] == stored.id and "Saffron Otter" in hit["text"]
    alice.files.delete(stored.id)
    after = sources_of(ask(alice, "What is the observatory's secret launch code?", top_k_docs=10).choices[0].message)
    assert stored.id not in {s["file_id"] for s in after}
