"""/v1/embeddings through the openai package, against sentence-transformers in-process."""

import base64
import concurrent.futures

import httpx
import numpy as np
import openai
import pytest

from triton_openai.repository.assets import ASSETS

MODEL = "all-minilm-l6-v2"
RELATED = ("A man is eating food.", "A man is eating a piece of bread.")
UNRELATED = "The new movie is awesome, said the critic."


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from sentence_transformers import SentenceTransformer

    folder = ASSETS[MODEL].locate(tmp_path_factory.mktemp("cache"))
    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)


def vectors(response) -> np.ndarray:
    assert [d.index for d in response.data] == list(range(len(response.data)))
    return np.array([d.embedding for d in response.data], dtype=np.float32)


def test_listed_with_its_kind_beside_the_other_models(client):
    kinds = {m.id: m.model_extra["kind"] for m in client.models.list().data}
    assert kinds[MODEL] == "embeddings"
    assert sorted(set(kinds.values())) == ["embeddings", "llm", "speech", "transcription"]


def test_vectors_match_sentence_transformers_and_related_sentences_are_closer(client, reference):
    texts = [*RELATED, UNRELATED, "中文和表情符号 🚀"]
    response = client.embeddings.create(model=MODEL, input=texts)
    ours = vectors(response)
    assert np.abs(ours - reference.encode(texts, convert_to_numpy=True)).max() < 1e-5
    related, unrelated = float(ours[0] @ ours[1]), float(ours[0] @ ours[2])
    assert related > unrelated + 0.3
    expected_tokens = sum(len(reference.tokenizer(t)["input_ids"]) for t in texts)
    assert response.usage.prompt_tokens == response.usage.total_tokens == expected_tokens
    assert response.model == MODEL and response.object == "list"


def test_base64_decodes_to_the_same_floats(client):
    floats = client.embeddings.create(model=MODEL, input=RELATED[0], encoding_format="float")
    # The SDK decodes base64 itself when it asked for it; ask over raw HTTP to see the string.
    raw = httpx.post(
        str(client.base_url) + "embeddings",
        json={"model": MODEL, "input": RELATED[0], "encoding_format": "base64"},
        timeout=60,
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert decoded.tolist() == pytest.approx(floats.data[0].embedding, abs=0)


def test_a_batch_of_64_in_one_call_keeps_order(client):
    texts = [f"Sentence number {i} is about {'cats' if i % 2 else 'the stock market'}." for i in range(64)]
    batch = vectors(client.embeddings.create(model=MODEL, input=texts))
    assert batch.shape == (64, 384)
    for i in (0, 17, 63):
        alone = vectors(client.embeddings.create(model=MODEL, input=texts[i]))[0]
        assert np.abs(batch[i] - alone).max() < 1e-5


def test_concurrent_requests_each_get_their_own_vectors(client):
    texts = [f"Concurrent request {i} talks about topic {i * 7}." for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda t: vectors(client.embeddings.create(model=MODEL, input=t))[0], texts))
    together = vectors(client.embeddings.create(model=MODEL, input=texts))
    assert np.abs(np.array(results) - together).max() < 1e-5


def test_token_id_inputs(client, reference):
    ids = [reference.tokenizer(t)["input_ids"] for t in RELATED]
    from_ids = vectors(client.embeddings.create(model=MODEL, input=ids))
    from_text = vectors(client.embeddings.create(model=MODEL, input=list(RELATED)))
    assert np.abs(from_ids - from_text).max() < 1e-6
    single = vectors(client.embeddings.create(model=MODEL, input=ids[0]))
    assert np.abs(single[0] - from_text[0]).max() < 1e-6


def test_dimensions_and_openai_model_names(client):
    response = client.embeddings.create(model="text-embedding-3-small", input=RELATED[0], dimensions=32)
    vector = vectors(response)[0]
    assert response.model == MODEL and vector.shape == (32,)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-5)


def test_over_long_input_is_a_400_unless_truncation_is_asked(client):
    long_text = "token " * 600
    with pytest.raises(openai.BadRequestError, match="at most 256"):
        client.embeddings.create(model=MODEL, input=long_text)
    response = client.embeddings.create(model=MODEL, input=long_text, extra_body={"truncate_prompt_tokens": -1})
    assert response.usage.prompt_tokens == 256


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"input": ""}, 400, "empty"),
        ({"input": []}, 400, "empty"),
        ({"input": ["fine", ""]}, 400, "input[1] is empty"),
        ({"input": "x", "dimensions": 1000}, 400, "at most 384"),
        ({"input": [[1, -5]]}, 400, "negative"),
        ({"input": [[1, 999999]]}, 400, "outside the vocabulary"),
        ({"input": ["x"] * 2049}, 400, "at most 2048"),
        ({"input": "x", "model": "no-such-model"}, 404, "does not exist"),
        ({"input": "x", "model": "smollm2-135m-instruct"}, 400, "not an embeddings model"),
    ],
)
def test_bad_requests_get_the_envelope(http, body, status, message):
    response = http.post("/v1/embeddings", json={"model": MODEL, **body})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_chat_with_the_embedding_model_is_a_400(client):
    with pytest.raises(openai.BadRequestError, match="does not generate text"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
