"""/v1/embeddings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from triton_openai.frontend.protocol.common import RequestModel, ResponseModel

MAX_INPUTS = 2048  # as OpenAI


class EmbeddingRequest(RequestModel):
    model: str | None = None
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None
    # Extension (vLLM's name): -1 cuts over-long inputs at the model's limit, n > 0 keeps
    # the first n tokens; unset, an over-long input is a 400.
    truncate_prompt_tokens: int | None = Field(None, ge=-1)

    @field_validator("input")
    @classmethod
    def _not_empty(cls, value: str | list) -> str | list:
        if isinstance(value, str):
            if not value:
                raise ValueError("input must not be an empty string")
            return value
        if not value:
            raise ValueError("input must not be an empty list")
        if len(value) > MAX_INPUTS:
            raise ValueError(f"input has {len(value)} items; at most {MAX_INPUTS} are allowed per request")
        for index, item in enumerate(value):
            if (isinstance(item, str) and not item) or (isinstance(item, list) and not item):
                raise ValueError(f"input[{index}] is empty")
        return value

    def rows(self) -> list[str] | list[list[int]]:
        """The inputs as a list of texts or a list of token-id lists."""
        if isinstance(self.input, str):
            return [self.input]
        if isinstance(self.input[0], int):
            return [list(self.input)]  # type: ignore[arg-type]
        return list(self.input)  # type: ignore[arg-type]


class Embedding(ResponseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str  # base64 of little-endian float32 when encoding_format is base64


class EmbeddingUsage(ResponseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(ResponseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
