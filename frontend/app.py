"""create_app: the FastAPI application, its lifespan and its error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from frontend import __version__, errors
from frontend.auth import APIKeyMiddleware, KeyStore, key_store_from, parse_keys
from frontend.disconnect import ClientDisconnected
from frontend.documents.index import SqliteVecIndex
from frontend.files.generated_images import GeneratedImages
from frontend.files.sqlite_store import SQLiteFileStore
from frontend.limits import BodySizeLimit
from frontend.lora import AdapterTable, parse_lora_flags
from frontend.metrics import Metrics, RequestCounter
from frontend.response_store.sqlite_store import SQLiteResponseStore
from frontend.response_store.store import Retention
from frontend.routes import (
    anthropic,
    audio,
    chat,
    collections,
    completions,
    embeddings,
    files,
    health,
    images,
    lora,
    models,
    observability,
    responses,
)
from frontend.serving.anthropic import ServingMessages
from frontend.serving.chat import ServingChat
from frontend.serving.completion import ServingCompletion
from frontend.serving.document_chat import DocumentChat
from frontend.serving.documents import ServingDocuments
from frontend.serving.embeddings import ServingEmbeddings
from frontend.serving.files import ServingFiles
from frontend.serving.image_inputs import ImageLoader
from frontend.serving.images import ServingImages
from frontend.serving.lora import ServingLoRA
from frontend.serving.models import ServingModels
from frontend.serving.registry import ModelRegistry
from frontend.serving.responses import ServingResponses
from frontend.serving.speech import ServingSpeech
from frontend.serving.transcription import ServingTranscription
from frontend.settings import Settings
from frontend.triton.base import Engine
from frontend.triton.pool import TritonPool
from frontend.users import UserStore

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics(settings.resolved_triton_metrics_url())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = engine or TritonPool(_require_triton_urls(settings))
        adapters = AdapterTable(parse_lora_flags(settings.lora), settings.resolved_files_dir())
        registry = ModelRegistry(backend, adapters)
        app.state.engine = backend
        app.state.metrics = metrics
        app.state.serving_models = ServingModels(registry)
        loader = ImageLoader(
            settings.max_image_bytes,
            settings.image_fetch_timeout,
            settings.allow_private_image_urls,
            settings.max_images_per_prompt,
        )
        app.state.serving_chat = ServingChat(backend, registry, metrics, settings.max_prompt_tokens, images=loader)
        app.state.serving_completion = ServingCompletion(backend, registry, metrics, settings.max_prompt_tokens)
        app.state.request_timeout = settings.request_timeout
        closed = settings.auth_access == "closed" and settings.users_file
        app.state.users = UserStore(settings.users_file) if closed else None
        app.state.serving_embeddings = ServingEmbeddings(backend, registry)
        app.state.serving_transcription = ServingTranscription(backend, registry, settings.max_audio_bytes)
        app.state.serving_speech = ServingSpeech(backend, registry)
        store = SQLiteFileStore(settings.resolved_files_dir(), settings.files_quota_bytes)
        documents = ServingDocuments(
            backend,
            registry,
            SqliteVecIndex(settings.resolved_documents_dir()),
            store,
            settings.document_chunk_size,
            settings.document_chunk_overlap,
        )
        app.state.serving_documents = documents
        app.state.document_chat = DocumentChat(documents, app.state.serving_chat)
        app.state.serving_files = ServingFiles(store, settings.max_file_bytes, documents)
        retention = Retention(settings.responses_max_stored, settings.responses_max_age)
        stored = SQLiteResponseStore(settings.resolved_files_dir(), retention)
        app.state.serving_responses = ServingResponses(app.state.serving_chat, stored, app.state.serving_files)
        app.state.serving_messages = ServingMessages(app.state.serving_chat, app.state.serving_files)
        app.state.serving_lora = ServingLoRA(backend, registry)
        generated = GeneratedImages(settings.resolved_generated_images_dir(), settings.generated_image_ttl)
        app.state.generated_images = generated
        app.state.serving_images = ServingImages(backend, registry, generated)
        app.state.public_url = settings.public_url
        for adapter in adapters.static.values():  # --lora: a bad adapter stops the start
            await app.state.serving_lora.check(adapter)
        try:
            yield
        finally:
            await app.state.serving_responses.close()  # background responses: left failed, not running
            await backend.close()

    app = FastAPI(title="triton-openai", version=__version__, lifespan=lifespan)
    routers = (
        models,
        chat,
        completions,
        responses,
        anthropic,
        embeddings,
        audio,
        images,
        files,
        collections,
        lora,
        health,
        observability,
    )
    for router in (r.router for r in routers):
        app.include_router(router)
    store = key_store_from(settings.api_keys, settings.api_keys_file)
    admin = KeyStore(parse_keys(settings.admin_api_keys))
    app.add_middleware(BodySizeLimit, max_bytes=settings.resolved_max_request_bytes())
    app.add_middleware(
        APIKeyMiddleware,
        store=store,
        admin=admin,
        admin_paths=lora.ADMIN_PATHS,
        protect_metrics=settings.metrics_require_key,
    )
    app.add_middleware(RequestCounter, metrics=metrics)  # outermost: counts the 401s too
    _add_error_handlers(app)
    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn workers call: settings come from TRITON_OPENAI_* variables."""
    return create_app(Settings())


def _require_triton_urls(settings: Settings) -> list[str]:
    if not settings.triton_url:
        raise RuntimeError("the frontend needs --triton-url (the launcher sets it for an embedded Triton)")
    return settings.triton_url


def _add_error_handlers(app: FastAPI) -> None:
    def render(
        request: Request, error: errors.APIError, status: int | None = None, headers: Any = None
    ) -> JSONResponse:
        body = errors.envelope_for(request.url.path, error)
        return JSONResponse(body, status_code=status or error.status_code, headers=headers or error.headers)

    @app.exception_handler(errors.APIError)
    async def api_error(request: Request, exc: errors.APIError) -> JSONResponse:
        return render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return render(request, errors.from_validation_errors(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        error = (
            errors.RouteNotFound(str(exc.detail)) if exc.status_code == 404 else errors.InvalidRequest(str(exc.detail))
        )
        return render(request, error, exc.status_code, exc.headers)

    @app.exception_handler(ClientDisconnected)
    async def client_gone(_: Request, __: ClientDisconnected) -> Response:
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return render(request, errors.ServerError("The server had an error while processing your request."))
