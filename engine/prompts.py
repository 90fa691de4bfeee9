"""Turning requests into token ids: chat templates and plain prompts."""

from __future__ import annotations

import json
from typing import Any

from engine.params import InvalidRequest


class PromptTokenizer:
    """A model's tokenizer and chat template, as the preprocessing model uses them."""

    def __init__(self, model_dir: str) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render_chat(self, messages_json: str) -> str:
        """Render a JSON list of chat messages with the model's template, ready for a reply."""
        if not self.has_chat_template:
            raise InvalidRequest("this model has no chat template; use the completions endpoint")
        try:
            messages: Any = json.loads(messages_json)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"messages is not valid JSON: {exc}") from exc
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("messages must be a non-empty list")
        try:
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        except Exception as exc:  # jinja2 errors, raise_exception() in templates
            raise InvalidRequest(f"the chat template rejected these messages: {exc}") from exc

    def encode_chat(self, messages_json: str) -> list[int]:
        # The template writes the special tokens itself (BOS included, where the model has one).
        return self.encode(self.render_chat(messages_json), add_special_tokens=False)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=add_special_tokens))

    def encode_batch(self, texts: list[str], add_special_tokens: bool = True) -> list[list[int]]:
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]]
