"""Fixtures shared by unit and end-to-end tests: the real default model, prepared once."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def prepared_model():
    from triton_openai.repository.cache import cache_root
    from triton_openai.repository.catalog import DEFAULT_MODEL
    from triton_openai.repository.prepare import ModelSpec, prepare_model

    return prepare_model(ModelSpec.parse(DEFAULT_MODEL), cache_root())


@pytest.fixture(scope="session")
def model_dir(prepared_model) -> str:
    return str(prepared_model.model_dir)


@pytest.fixture(scope="session")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)
