"""The embeddings runtime gives sentence-transformers' own vectors, in shared batches."""

import numpy as np
import pytest

from triton_openai.models.embeddings import EmbeddingInput, EmbeddingModel
from triton_openai.models.llm.params import InvalidRequest
from triton_openai.repository.assets import ASSETS

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "Un homme mange de la nourriture. 男人在吃东西 🍞",
    "short",
]
# all-MiniLM-L6-v2's vector for SENTENCES[0] (first 8 of 384 dimensions), as
# sentence-transformers computes it.
REFERENCE = [0.03324157, 0.00440609, -0.00627697, 0.04837873, -0.13870227, -0.03361741, 0.10112832, -0.05438497]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return EmbeddingModel(str(ASSETS["all-minilm-l6-v2"].locate(tmp_path_factory.mktemp("cache"))), device="cpu")


def embed(model, rows, **options):
    ids = [model.token_ids(EmbeddingInput(**row, **options), i) for i, row in enumerate(rows)]
    return model.embed(ids, [options.get("dimensions", 0)] * len(ids))


def test_vectors_match_sentence_transformers(model):
    ours = embed(model, [{"text": s} for s in SENTENCES])
    theirs = model.model.encode(SENTENCES, convert_to_numpy=True)
    assert ours.shape == (len(SENTENCES), 384)
    assert np.abs(ours - theirs).max() < 1e-5
    assert ours[0, :8] == pytest.approx(REFERENCE, abs=1e-5)
    assert np.linalg.norm(ours, axis=1) == pytest.approx(np.ones(len(SENTENCES)), abs=1e-5)


def test_a_row_is_the_same_alone_and_in_a_padded_batch(model):
    alone = embed(model, [{"text": SENTENCES[4]}])
    mixed = embed(model, [{"text": s} for s in SENTENCES * 10])
    assert np.abs(mixed[4] - alone[0]).max() < 1e-5


def test_token_ids_give_the_same_vector_as_their_text(model):
    ids = model.tokenizer(SENTENCES[1])["input_ids"]
    assert np.abs(embed(model, [{"token_ids": ids}])[0] - embed(model, [{"text": SENTENCES[1]}])[0]).max() < 1e-6


def test_over_long_input_is_refused_unless_truncation_is_asked(model):
    long_text = "word " * 400
    with pytest.raises(InvalidRequest, match="at most 256"):
        model.token_ids(EmbeddingInput(text=long_text))
    cut = model.token_ids(EmbeddingInput(text=long_text, truncate=-1))
    assert len(cut) == 256 and cut[-1] == model.tokenizer.sep_token_id
    # Cutting at the limit is what sentence-transformers does on its own.
    theirs = model.model.encode([long_text], convert_to_numpy=True)[0]
    assert np.abs(model.embed([cut])[0] - theirs).max() < 1e-5
    assert len(model.token_ids(EmbeddingInput(text=long_text, truncate=10))) == 10


def test_dimensions_truncate_and_renormalize(model):
    full = embed(model, [{"text": SENTENCES[0]}])[0]
    short = embed(model, [{"text": SENTENCES[0]}], dimensions=64)[0]
    assert np.linalg.norm(short[:64]) == pytest.approx(1.0, abs=1e-6)
    assert short[:64] == pytest.approx(full[:64] / np.linalg.norm(full[:64]), abs=1e-6)
    with pytest.raises(InvalidRequest, match="between 1 and 384"):
        model.check_dimensions(385)


@pytest.mark.parametrize(
    "row, message",
    [
        ({"text": ""}, "is empty"),
        ({"token_ids": []}, "is empty"),
        ({"token_ids": [1, 10**6]}, "outside the vocabulary"),
    ],
)
def test_bad_rows_are_the_clients_error(model, row, message):
    with pytest.raises(InvalidRequest, match=message):
        model.token_ids(EmbeddingInput(**row))
