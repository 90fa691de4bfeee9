"""create_app: the FastAPI application, its lifespan and its error handlers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from triton_openai import __version__
from triton_openai.frontend import errors
from triton_openai.frontend.auth import APIKeyMiddleware, KeyStore, key_store_from, parse_keys
from triton_openai.frontend.disconnect import ClientDisconnected
from triton_openai.frontend.limits import BodySizeLimit, JsonBodyLimit
from triton_openai.frontend.lora import AdapterTable, parse_lora_flags
from triton_openai.frontend.metrics import Metrics, RequestCounter
from triton_openai.frontend.routes import (
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
    tokenize,
)
from triton_openai.frontend.serving.anthropic import ServingMessages
from triton_openai.frontend.serving.chat import ServingChat
from triton_openai.frontend.serving.completion import ServingCompletion
from triton_openai.frontend.serving.document_chat import DocumentChat
from triton_openai.frontend.serving.documents import ServingDocuments
from triton_openai.frontend.serving.embeddings import ServingEmbeddings
from triton_openai.frontend.serving.files import ServingFiles
from triton_openai.frontend.serving.image_inputs import ImageLoader
from triton_openai.frontend.serving.images import ServingImages
from triton_openai.frontend.serving.lora import ServingLoRA
from triton_openai.frontend.serving.models import ServingModels
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.serving.responses import ServingResponses
from triton_openai.frontend.serving.speech import ServingSpeech
from triton_openai.frontend.serving.tokenize import ServingTokenize
from triton_openai.frontend.serving.transcription import ServingTranscription
from triton_openai.frontend.settings import Settings
from triton_openai.frontend.stores import Stores, open_stores
from triton_openai.frontend.triton.base import TritonClient
from triton_openai.frontend.triton.pool import TritonPool
from triton_openai.frontend.users import UserStore

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, engine: TritonClient | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics(settings.resolved_triton_metrics_url())
    json_limit = JsonBodyLimit(settings.max_json_bytes, settings.max_images_per_prompt, settings.max_image_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            backend = engine or TritonPool(_require_triton_urls(settings))
            stack.push_async_callback(backend.close)
            stores = await stack.enter_async_context(open_stores(settings))
            adapters = _serve(app, settings, backend, stores, metrics)
            # First at shutdown: background responses are left failed (not running) while
            # the store and the backend are still open.
            stack.push_async_callback(app.state.serving_responses.close)
            registry = app.state.serving_models.registry
            json_limit.models = registry.cached
            with contextlib.suppress(errors.APIError):  # a Triton not up yet: the limit waits for the models
                await registry.refresh()
            for adapter in adapters.static.values():  # --lora: a bad adapter stops the start
                await app.state.serving_lora.check(adapter)
            yield

    app = FastAPI(title="triton-openai", version=__version__, lifespan=lifespan)
    routers = (
        models,
        tokenize,  # before chat: /v1/chat/completions/render
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
    app.add_middleware(BodySizeLimit, max_bytes=settings.resolved_max_request_bytes(), json_limit=json_limit)
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


def _serve(app: FastAPI, settings: Settings, backend: TritonClient, stores: Stores, metrics: Metrics) -> AdapterTable:
    """The serving objects on app.state, over the backend and the stores; the adapter table."""
    app.state.database = stores.database
    adapters = AdapterTable(parse_lora_flags(settings.lora), stores.adapters)
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
    app.state.serving_chat = ServingChat(
        backend,
        registry,
        metrics,
        settings.max_prompt_tokens,
        images=loader,
        reasoning_parser=settings.reasoning_parser,
    )
    app.state.serving_tokenize = ServingTokenize(backend, registry)
    app.state.serving_completion = ServingCompletion(backend, registry, metrics, settings.max_prompt_tokens)
    app.state.request_timeout = settings.request_timeout
    closed = settings.auth_access == "closed" and settings.users_file
    app.state.users = UserStore(settings.users_file) if closed else None
    app.state.serving_embeddings = ServingEmbeddings(backend, registry)
    app.state.serving_transcription = ServingTranscription(backend, registry, settings.max_audio_bytes)
    app.state.serving_speech = ServingSpeech(backend, registry)
    documents = ServingDocuments(
        backend,
        registry,
        stores.documents,
        stores.files,
        settings.document_chunk_size,
        settings.document_chunk_overlap,
    )
    app.state.serving_documents = documents
    app.state.document_chat = DocumentChat(documents, app.state.serving_chat)
    app.state.serving_files = ServingFiles(stores.files, settings.max_file_bytes, documents)
    app.state.serving_responses = ServingResponses(app.state.serving_chat, stores.responses, app.state.serving_files)
    app.state.serving_messages = ServingMessages(app.state.serving_chat, app.state.serving_files)
    app.state.serving_lora = ServingLoRA(backend, registry)
    app.state.generated_images = stores.images
    app.state.serving_images = ServingImages(backend, registry, stores.images)
    app.state.public_url = settings.public_url
    return adapters


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
