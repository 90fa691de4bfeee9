"""Where the frontend keeps its state, chosen by --database-url in this one place.

Embedded (sqlite:///FOLDER, the default): the files store in SQLite and files, the document
index in sqlite-vec, the runtime LoRA adapters in a JSON file, generated images as files,
stored responses in SQLite, all under the files folder and shared by the workers of one
host. PostgreSQL (postgresql://...): all five in one database that several frontends (pods)
share, through one connection pool per process.

A new store takes a field here, an implementation of each kind, and for PostgreSQL one
migration (triton_openai/frontend/database/migrations/).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from triton_openai.frontend.database.postgres import Database
from triton_openai.frontend.documents.index import SqliteVecIndex, ThreadedIndex, VectorIndex
from triton_openai.frontend.files.generated_images import GeneratedImages, ImageStore
from triton_openai.frontend.files.store import FileStore
from triton_openai.frontend.lora import AdapterFile, RuntimeAdapters
from triton_openai.frontend.response_store.store import ResponseStore, Retention
from triton_openai.frontend.settings import Settings


@dataclass(frozen=True)
class Stores:
    files: FileStore
    documents: VectorIndex
    adapters: RuntimeAdapters
    images: ImageStore
    responses: ResponseStore
    database: Database | None  # None when embedded


@asynccontextmanager
async def open_stores(settings: Settings) -> AsyncIterator[Stores]:
    """The stores for the settings, open while the context lasts."""
    retention = Retention(settings.responses_max_stored, settings.responses_max_age)
    if not settings.uses_postgres():
        from triton_openai.frontend.files.sqlite_store import SQLiteFileStore
        from triton_openai.frontend.response_store.sqlite_store import SQLiteResponseStore

        files = SQLiteFileStore(settings.resolved_files_dir(), settings.files_quota_bytes)
        index = ThreadedIndex(SqliteVecIndex(settings.resolved_documents_dir()))
        images = GeneratedImages(settings.resolved_generated_images_dir(), settings.generated_image_ttl)
        responses = SQLiteResponseStore(settings.resolved_files_dir(), retention)
        yield Stores(files, index, AdapterFile(settings.resolved_files_dir()), images, responses, None)
        return
    from triton_openai.frontend.documents.pgvector_index import PgVectorIndex
    from triton_openai.frontend.files.postgres_images import PostgresImages
    from triton_openai.frontend.files.postgres_store import PostgresFileStore
    from triton_openai.frontend.lora_postgres import PostgresAdapters
    from triton_openai.frontend.response_store.postgres_store import PostgresResponseStore

    assert settings.database_url is not None
    database = await Database.open(settings.database_url, settings.database_pool_size)
    try:
        yield Stores(
            PostgresFileStore(database, settings.files_quota_bytes),
            PgVectorIndex(database),
            PostgresAdapters(database),
            PostgresImages(database, settings.generated_image_ttl),
            PostgresResponseStore(database, retention),
            database,
        )
    finally:
        await database.close()
