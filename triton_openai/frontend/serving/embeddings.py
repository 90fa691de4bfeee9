"""ServingEmbeddings: /v1/embeddings."""

from __future__ import annotations

import base64

import numpy as np

from triton_openai.frontend import errors
from triton_openai.frontend.protocol.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import ModelKind, TritonClient
from triton_openai.frontend.triton.jobs import EmbeddingJob


class ServingEmbeddings:
    def __init__(self, engine: TritonClient, registry: ModelRegistry) -> None:
        self.engine = engine
        self.registry = registry

    async def create(self, request: EmbeddingRequest) -> EmbeddingResponse:
        model = await self.registry.resolve(request.model, ModelKind.EMBEDDINGS)
        size = model.embedding_dim
        if request.dimensions and size and request.dimensions > size:
            raise errors.InvalidRequest(
                f"dimensions must be at most {size} for the model `{model.name}`", param="dimensions"
            )
        rows = request.rows()
        if not isinstance(rows[0], str) and any(i < 0 for row in rows for i in row):  # type: ignore[union-attr]
            raise errors.InvalidRequest("token ids must not be negative", param="input")
        job = EmbeddingJob(rows, truncate_prompt_tokens=request.truncate_prompt_tokens, dimensions=request.dimensions)
        vectors, counts = await self.engine.embed(model, job)
        encode = _base64 if request.encoding_format == "base64" else _floats
        tokens = sum(counts)
        # model_construct: the values are ours and already valid; validating thousands of
        # floats again would cost more than the encoding.
        data = [
            Embedding.model_construct(index=i, embedding=encode(v), object="embedding") for i, v in enumerate(vectors)
        ]
        return EmbeddingResponse.model_construct(
            object="list",
            data=data,
            model=model.name,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )


def _floats(vector: np.ndarray) -> list[float]:
    return vector.astype(np.float32).tolist()


def _base64(vector: np.ndarray) -> str:
    """OpenAI's base64 encoding: the little-endian float32 bytes."""
    return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
