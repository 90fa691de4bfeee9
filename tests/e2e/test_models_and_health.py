from __future__ import annotations

import openai
import pytest

from tests.e2e.conftest import MODEL


def test_models_lists_the_served_models_only(client):
    models = client.models.list().data
    kinds = {m.id: m.model_extra["kind"] for m in models}
    assert kinds == {
        MODEL: "llm",
        "all-minilm-l6-v2": "embeddings",
        "whisper-tiny.en": "transcription",
        "tts": "speech",
    }
    assert all(m.object == "model" and m.owned_by and m.created > 0 for m in models)
    assert all(not m.id.endswith(("_llm", "_preprocessing")) for m in models)


def test_retrieve_a_model(client, http):
    assert client.models.retrieve(MODEL).id == MODEL
    assert http.get(f"/v1/models/{MODEL}").json()["max_model_len"] == 8192


@pytest.mark.parametrize("name", ["nope", f"{MODEL}_llm", f"{MODEL}_preprocessing"])
def test_unknown_or_internal_model_is_404(client, name):
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve(name)
    assert info.value.body["code"] == "model_not_found"


def test_health_and_version(http):
    assert http.get("/health").json() == {"status": "ok"}
    version = http.get("/version").json()
    assert version["version"] and version["triton_version"] == "2.51.0"


def test_unknown_route_is_404_in_the_envelope(http):
    response = http.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
