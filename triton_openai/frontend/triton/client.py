"""GrpcTritonClient: the TritonClient protocol over tritonclient's gRPC asyncio API.

This is the only module that imports tritonclient's client. Each generation is one
bidirectional ModelStreamInfer call carrying one request; cancelling the call cancels
the request inside Triton (the llm model sees `is_cancelled()`). Triton's errors are
mapped to ours here, once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from triton_openai import contract as t
from triton_openai.frontend import errors
from triton_openai.frontend.triton import jobs
from triton_openai.frontend.triton.base import AudioChunk, GenerationChunk, ServedModel, TokenizedPrompt
from triton_openai.frontend.triton.tensors import (
    detokenize_inputs,
    embedding_inputs,
    generation_inputs,
    lora_unload_inputs,
    tokenize_inputs,
    unbatched_inputs,
    unpack_audio,
    unpack_chunk,
    unpack_embeddings,
    unpack_event,
    unpack_image,
    unpack_text,
    unpack_tokenized,
)

logger = logging.getLogger(__name__)

# tritonclient's defaults (message sizes, keepalive), plus a short reconnect backoff: when
# Triton restarts, the frontend is back within about a second rather than gRPC's default
# backoff of up to two minutes.
_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.keepalive_time_ms", 2**31 - 1),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", False),
    ("grpc.http2.max_pings_without_data", 2),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
]

# A server that cannot be reached, or one shutting down ("Server not ready"): the pool tries another.
_UNAVAILABLE = (
    "StatusCode.UNAVAILABLE",
    "failed to connect",
    "Connection refused",
    "Socket closed",
    "Server not ready",
)


@contextlib.contextmanager
def map_errors() -> Iterator[None]:
    """Turn tritonclient / gRPC failures into triton_openai.frontend.errors."""
    try:
        yield
    except errors.APIError:
        raise
    except InferenceServerException as exc:
        raise _from_message(str(exc.message() or exc)) from exc
    except grpc.RpcError as exc:
        raise errors.BackendUnavailable(f"Triton is unavailable: {exc}") from exc


def _from_message(message: str) -> errors.APIError:
    tag, text = t.parse_tagged_error(message)
    if tag == t.INVALID_REQUEST_TAG:
        return errors.InvalidRequest(text)
    if tag == t.CONTEXT_LENGTH_TAG:
        return errors.InvalidRequest(text, code=errors.CONTEXT_LENGTH_EXCEEDED)
    if tag == t.OVERLOADED_TAG:
        return errors.Overloaded(text)
    if any(marker in message for marker in _UNAVAILABLE):
        return errors.BackendUnavailable(f"Triton is unavailable: {message}")
    if "is not ready" in message or "unknown model" in message.lower():
        return errors.BackendUnavailable(message)
    return errors.ServerError(f"inference failed: {message}")


class GrpcTritonClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client = grpcclient.InferenceServerClient(url, channel_args=_CHANNEL_ARGS)

    async def close(self) -> None:
        await self._client.close()

    async def ready(self) -> bool:
        try:
            return bool(await self._client.is_server_ready())
        except (InferenceServerException, grpc.RpcError):
            return False

    async def version(self) -> str:
        with map_errors():
            metadata = await self._client.get_server_metadata(as_json=True)
        return str(metadata.get("version", "unknown"))

    async def models(self) -> list[ServedModel]:
        # As protobuf messages: their JSON form takes tens of milliseconds of the event loop per refresh.
        with map_errors():
            index = await self._client.get_model_repository_index()
            served = []
            for entry in index.models:
                if entry.state != "READY":
                    continue
                config = (await self._client.get_model_config(entry.name)).config
                model = _served_model(entry.name, {key: p.string_value for key, p in config.parameters.items()})
                if model is not None:
                    served.append(model)
        return served

    async def tokenize(self, model: ServedModel, job: jobs.TokenizeJob) -> TokenizedPrompt:
        with map_errors():
            result = await self._client.infer(_preprocessing(model), tokenize_inputs(job))
        return unpack_tokenized(result)

    async def detokenize(self, model: ServedModel, token_ids: list[int]) -> str:
        with map_errors():
            result = await self._client.infer(_preprocessing(model), detokenize_inputs(token_ids))
        return unpack_text(result)

    async def generate(
        self, model: ServedModel, job: jobs.GenerationJob, request_id: str
    ) -> AsyncIterator[GenerationChunk]:
        # A LoRA adapter is served by name on its base model's llm model (triton_openai.models.llm.lora).
        async for result in self._stream(_llm(model), generation_inputs(job), request_id):
            chunk = unpack_chunk(result)
            if chunk is not None:
                yield chunk

    async def embed(self, model: ServedModel, job: jobs.EmbeddingJob) -> tuple[np.ndarray, list[int]]:
        with map_errors():
            result = await self._client.infer(model.name, embedding_inputs(job))
        return unpack_embeddings(result)

    async def transcribe(
        self, model: ServedModel, job: jobs.TranscriptionJob, request_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        async for result in self._stream(model.name, unbatched_inputs(job), request_id):
            event = unpack_event(result)
            if event is not None:
                yield event

    async def synthesize(self, model: ServedModel, job: jobs.SpeechJob, request_id: str) -> AsyncIterator[AudioChunk]:
        async for result in self._stream(model.name, unbatched_inputs(job), request_id):
            chunk = unpack_audio(result)
            if chunk is not None:
                yield chunk

    async def generate_images(self, model: ServedModel, job: jobs.ImageJob, request_id: str) -> AsyncIterator[bytes]:
        async for result in self._stream(model.name, unbatched_inputs(job), request_id):
            image = unpack_image(result)
            if image is not None:
                yield image

    async def unload_lora(self, model: ServedModel, name: str) -> None:
        async for _ in self._stream(_llm(model), lora_unload_inputs(name), f"unload-lora-{name}"):
            pass

    async def _stream(self, model_name: str, inputs: list[Any], request_id: str) -> AsyncIterator[Any]:
        """The responses of one request to a decoupled model; leaving early cancels it in Triton."""
        request = {
            "model_name": model_name,
            "inputs": inputs,
            "request_id": request_id,
            "parameters": {"triton_enable_empty_final_response": True},
        }

        async def requests() -> AsyncIterator[dict[str, Any]]:
            yield request

        done = False
        with map_errors():
            call = self._client.stream_infer(requests())
            try:
                async for result, error in call:
                    if error is not None:
                        raise error
                    final = _is_final(result)
                    yield result
                    if final:
                        done = True
                        return
                done = True
            finally:
                if not done:
                    call.cancel()


def _preprocessing(model: ServedModel) -> str:
    if model.preprocessing_model is None:
        raise errors.InvalidRequest(
            f"The model `{model.name}` tokenizes inside its engine: it has no tokenizer to call."
        )
    return model.preprocessing_model


def _llm(model: ServedModel) -> str:
    if model.llm_model is None:
        raise errors.ServerError(f"model {model.name} does not name its llm model")
    return model.llm_model


def _is_final(result: Any) -> bool:
    parameters = result.get_response().parameters
    return "triton_final_response" in parameters and parameters["triton_final_response"].bool_param


def _served_model(name: str, params: dict[str, str]) -> ServedModel | None:
    """The model `name` offers, from its config's parameters (None: a part of one)."""
    kind = params.get(t.PARAM_OPENAI_KIND)
    if not kind:
        return None  # a part of a served model (preprocessing, llm), not one itself
    return ServedModel(
        name=name,
        kind=kind,
        created=int(params.get(t.PARAM_CREATED) or 0),
        has_chat_template=params.get(t.PARAM_HAS_CHAT_TEMPLATE) == "true",
        max_model_len=int(params[t.PARAM_MAX_MODEL_LEN]) if params.get(t.PARAM_MAX_MODEL_LEN) else None,
        system_fingerprint=params.get(t.PARAM_SYSTEM_FINGERPRINT) or None,
        preprocessing_model=params.get(t.PARAM_PREPROCESSING_MODEL) or None,
        llm_model=params.get(t.PARAM_LLM_MODEL) or None,
        parameters=params,
    )
