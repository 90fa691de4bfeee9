"""/tokenize, /detokenize (vLLM's shapes) and /v1/chat/completions/render: request and response types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from triton_openai.frontend.protocol.chat import ChatMessage
from triton_openai.frontend.protocol.common import RequestModel, ResponseModel
from triton_openai.frontend.protocol.structured import Tool
from triton_openai.frontend.triton.jobs import ChatPrompt, TextPrompt, TokenizeJob


class TokenizeRequest(RequestModel):
    """A `prompt` tokenized as is, or `messages` rendered with the model's chat template first."""

    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1)
    tools: list[Tool] | None = None
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    add_special_tokens: bool | None = None  # default: true for a prompt; false for messages (the template adds them)
    return_token_strs: bool = False
    chat_template_kwargs: dict[str, Any] | None = None
    user: str | None = None

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("send either prompt or messages")
        for message in self.messages or ():
            if isinstance(message.content, list) and any(p.type != "text" for p in message.content):
                raise ValueError("messages to tokenize may hold text parts only")
        return self

    def job(self) -> TokenizeJob:
        """What the model's tokenizer is asked: the prompt as is, or the messages (and tools) through the template."""
        if self.messages is None:
            prompt: TextPrompt | ChatPrompt = TextPrompt(self.prompt or "")
        else:
            tools = [tool.model_dump(exclude_none=True) for tool in self.tools or ()]
            prompt = ChatPrompt([m.for_template() for m in self.messages], tools or None, self.chat_template_kwargs)
        return TokenizeJob(
            prompt,
            add_special_tokens=self.add_special_tokens,
            add_generation_prompt=self.add_generation_prompt,
            continue_final_message=self.continue_final_message,
            return_token_strs=self.return_token_strs,
        )

    def characters(self) -> int:
        if self.prompt is not None:
            return len(self.prompt)
        return sum(message.characters() for message in self.messages or ())


class TokenizeResponse(ResponseModel):
    count: int
    max_model_len: int
    tokens: list[int]
    token_strs: list[str] | None = None


TokenId = Annotated[int, Field(ge=0, lt=2**31)]


class DetokenizeRequest(RequestModel):
    model: str | None = None
    tokens: list[TokenId]
    user: str | None = None


class DetokenizeResponse(ResponseModel):
    prompt: str


class ChatRenderResponse(ResponseModel):
    """What a chat request would send to the model, without generating: the rendered prompt
    (system prompts, tools, format hints and documents included) and its token ids."""

    model: str
    prompt: str
    token_ids: list[int]
    count: int
    max_model_len: int
