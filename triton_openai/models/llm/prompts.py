"""Turning requests into token ids: chat templates and plain prompts."""

from __future__ import annotations

import json
from typing import Any

from triton_openai.models.llm.params import InvalidRequest

TOOLS_PROMPT = """You can call functions to answer. They are described with JSON schemas in <tools></tools>:
<tools>
{tools}
</tools>
To call functions, answer with one <tool_call></tool_call> block per call, each holding a JSON object with \
the function's name and its arguments:
<tool_call>
{{"name": "function_name", "arguments": {{"parameter": "value"}}}}
</tool_call>"""


class PromptTokenizer:
    """A model's tokenizer and chat template, as the preprocessing model uses them.

    Given a multimodal `processor`, its chat template renders the messages, and every
    message's content becomes a list of parts (`{"type": "text"}`, `{"type": "image"}`),
    the shape those templates iterate over.
    """

    def __init__(self, model_dir: str | None = None, *, processor: Any = None) -> None:
        if processor is not None:
            self.tokenizer = processor.tokenizer
        else:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self._templater = processor if getattr(processor, "chat_template", None) else self.tokenizer
        self._parts = processor is not None

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self._templater, "chat_template", None))

    @property
    def template_knows_tools(self) -> bool:
        return "tools" in str(getattr(self._templater, "chat_template", "") or "")

    def render_chat(self, messages_json: str, tools_json: str | None = None) -> str:
        """Render a JSON list of chat messages (and tools) with the model's template, ready for a reply.

        A template that knows no tools gets them in a system prompt, and the conversation's
        earlier calls and results in the <tool_call> / <tool_response> format it asks for.
        """
        if not self.has_chat_template:
            raise InvalidRequest("this model has no chat template; use the completions endpoint")
        messages = _json_list(messages_json, "messages")
        tools = _json_list(tools_json, "tools") if tools_json else None
        if not self.template_knows_tools:
            messages = [_tool_history_as_text(m) for m in messages]
            if tools:
                messages = _with_system_prompt(messages, TOOLS_PROMPT.format(tools="\n".join(map(json.dumps, tools))))
            tools = None
        if self._parts:
            messages = [_as_parts(m) for m in messages]
        try:
            return str(
                self._templater.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
            )
        except Exception as exc:  # jinja2 errors, raise_exception() in templates
            raise InvalidRequest(f"the chat template rejected these messages: {exc}") from exc

    def encode_chat(self, messages_json: str, tools_json: str | None = None) -> list[int]:
        # The template writes the special tokens itself (BOS included, where the model has one).
        return self.encode(self.render_chat(messages_json, tools_json), add_special_tokens=False)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=add_special_tokens))

    def encode_batch(self, texts: list[str], add_special_tokens: bool = True) -> list[list[int]]:
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]]


def _json_list(text: str, what: str) -> list[Any]:
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, list) or not value:
        raise InvalidRequest(f"{what} must be a non-empty list")
    return value


def _with_system_prompt(messages: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    if messages and messages[0].get("role") == "system":
        content = messages[0].get("content") or ""
        if isinstance(content, list):
            content = [*content, {"type": "text", "text": prompt}]
        else:
            content = f"{content}\n\n{prompt}".strip()
        return [{**messages[0], "content": content}, *messages[1:]]
    return [{"role": "system", "content": prompt}, *messages]


def _as_parts(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, list):
        return message
    return {**message, "content": [{"type": "text", "text": content}] if content else []}


def _tool_history_as_text(message: dict[str, Any]) -> dict[str, Any]:
    if message.get("tool_calls"):
        calls = [
            "<tool_call>\n"
            + json.dumps({"name": c["function"]["name"], "arguments": c["function"].get("arguments", {})})
            + "\n</tool_call>"
            for c in message["tool_calls"]
        ]
        text = "\n".join([message.get("content") or "", *calls]).strip()
        return {k: v for k, v in message.items() if k != "tool_calls"} | {"content": text}
    if message.get("role") == "tool":
        return {**message, "content": f"<tool_response>\n{message.get('content') or ''}\n</tool_response>"}
    return message
