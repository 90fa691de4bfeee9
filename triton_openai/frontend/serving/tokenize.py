"""ServingTokenize: /tokenize and /detokenize through the model's preprocessing model in Triton."""

from __future__ import annotations

from triton_openai.frontend.protocol.tokenize import (
    DetokenizeRequest,
    DetokenizeResponse,
    TokenizeRequest,
    TokenizeResponse,
)
from triton_openai.frontend.serving.prompt_limits import PromptLimit
from triton_openai.frontend.serving.registry import ModelRegistry
from triton_openai.frontend.triton.base import TritonClient


class ServingTokenize:
    def __init__(self, engine: TritonClient, registry: ModelRegistry) -> None:
        self.engine = engine
        self.registry = registry

    async def tokenize(self, request: TokenizeRequest) -> TokenizeResponse:
        chat = request.messages is not None
        model = await self.registry.resolve_llm(request.model, chat=chat)
        # A prompt that no context holds is refused untokenized here too (seconds of tokenizer time).
        PromptLimit.of(model, 0).check_characters(model, request.characters())
        tokenized = await self.engine.tokenize(model, request.job())
        return TokenizeResponse(
            count=len(tokenized.token_ids),
            max_model_len=model.max_model_len or 0,
            tokens=tokenized.token_ids,
            token_strs=tokenized.token_strs if request.return_token_strs else None,
        )

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResponse:
        model = await self.registry.resolve_llm(request.model, chat=False)
        return DetokenizeResponse(prompt=await self.engine.detokenize(model, request.tokens))
