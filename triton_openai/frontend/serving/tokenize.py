"""ServingTokenize: /tokenize and /detokenize through the model's preprocessing model in Triton."""

from __future__ import annotations

import json
from typing import Any

from triton_openai import contract as t
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
        prompt: dict[str, Any] = {t.RETURN_TOKEN_STRS: request.return_token_strs or None}
        if chat:
            prompt |= {
                t.MESSAGES: request.messages_json(),
                t.TOOLS: request.tools_json(),
                t.ADD_GENERATION_PROMPT: request.add_generation_prompt,
                t.CONTINUE_FINAL_MESSAGE: request.continue_final_message or None,
                t.CHAT_TEMPLATE_KWARGS: _json_or_none(request.chat_template_kwargs),
                t.ADD_SPECIAL_TOKENS: request.add_special_tokens or None,
            }
        else:
            prompt |= {t.TEXT_INPUT: request.prompt, t.ADD_SPECIAL_TOKENS: request.add_special_tokens}
        tokenized = await self.engine.tokenize(model, prompt)
        return TokenizeResponse(
            count=len(tokenized.token_ids),
            max_model_len=model.max_model_len or 0,
            tokens=tokenized.token_ids,
            token_strs=tokenized.token_strs if request.return_token_strs else None,
        )

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResponse:
        model = await self.registry.resolve_llm(request.model, chat=False)
        return DetokenizeResponse(prompt=await self.engine.detokenize(model, request.tokens))


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return json.dumps(value) if value else None
