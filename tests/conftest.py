"""Fixtures shared by unit and end-to-end tests: the real default model, prepared once."""

from __future__ import annotations

import os
import shutil
import uuid

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


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL 16 with pgvector (the pgserver wheel) for the session's tests."""
    from tests.postgres import started_postgres

    server = started_postgres()
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def schema_url(postgres) -> str:
    """A URL of an empty schema of the session's PostgreSQL, for one test's stores."""
    return postgres.create_schema(f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def database(schema_url):
    """The stores' database (migrated, pooled) over an empty schema."""
    from triton_openai.frontend.database.postgres import Database

    database = await Database.open(schema_url, pool_size=4)
    yield database
    await database.close()


@pytest.fixture(params=["embedded", "postgres"])
def backend(request):
    """Store tests run on both back ends: None (embedded: SQLite, files), or the PostgreSQL Database."""
    return request.getfixturevalue("database") if request.param == "postgres" else None
