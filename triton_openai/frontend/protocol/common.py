"""Shared bases of the wire types, usage, and the error envelope."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer, model_validator

logger = logging.getLogger(__name__)


class RequestModel(BaseModel):
    """A request body: unknown fields are accepted and ignored (OpenAI adds new ones often)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="after")
    def _note_unknown_fields(self) -> RequestModel:
        if self.model_extra:
            logger.debug("ignoring unknown fields %s", sorted(self.model_extra))
        return self


class ResponseModel(BaseModel):
    """A response body. A None field is left out unless it was set explicitly, so that
    `"logprobs": null` appears where OpenAI sends it and an unused extension does not."""

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _omit_unset_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None or k in self.model_fields_set}


class PromptTokensDetails(ResponseModel):
    cached_tokens: int = 0  # prompt tokens the engine's prefix cache served


class CompletionTokensDetails(ResponseModel):
    reasoning_tokens: int = 0  # generated tokens inside <think>...</think> (triton_openai.frontend.serving.reasoning)


class Usage(ResponseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, reasoning_tokens: int = 0) -> Usage:
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=cached_tokens),
            completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning_tokens),
        )

    @property
    def cached_tokens(self) -> int:
        return self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else 0

    @property
    def reasoning_tokens(self) -> int:
        return self.completion_tokens_details.reasoning_tokens if self.completion_tokens_details else 0


class StreamOptions(RequestModel):
    include_usage: bool = False
    continuous_usage_stats: bool = False


class ErrorDetail(ResponseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(ResponseModel):
    error: ErrorDetail


def dump(model: BaseModel) -> dict[str, Any]:
    """A response body as JSON-ready data."""
    return model.model_dump(mode="json")
