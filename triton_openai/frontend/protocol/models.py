"""/v1/models."""

from __future__ import annotations

from typing import Literal

from triton_openai.frontend.protocol.common import ResponseModel


class ModelCard(ResponseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "triton-openai"
    # Extensions (as vLLM reports them): the context window, and where the model comes from;
    # and what the model does: llm, embeddings, transcription or speech.
    root: str | None = None
    parent: str | None = None
    max_model_len: int | None = None
    kind: str | None = None


class ModelList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
