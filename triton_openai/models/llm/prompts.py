"""Turning requests into token ids: chat templates and plain prompts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
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

# apply_chat_template's own arguments: chat_template_kwargs may not set them (tokenize=True,
# for one, would return token ids where the glue expects text).
_RESERVED_TEMPLATE_KWARGS = frozenset(
    {
        "conversation",
        "messages",
        "tools",
        "documents",
        "chat_template",
        "add_generation_prompt",
        "continue_final_message",
        "tokenize",
        "padding",
        "truncation",
        "max_length",
        "return_tensors",
        "return_dict",
        "return_assistant_tokens_mask",
        "tokenizer_kwargs",
        "processor_kwargs",
    }
)


@dataclass(frozen=True)
class PromptInput:
    """A prompt as the llm and vision models take it: chat messages (JSON) for the chat
    template, with its tools and variables (a vision model's image parts are placeholders, the
    images' encoded bytes in order); or a text to tokenize as it is; or token ids."""

    messages_json: str = ""
    tools_json: str | None = None
    template_kwargs_json: str | None = None
    add_generation_prompt: bool = True  # messages: open the assistant's turn
    continue_final_message: bool = False  # messages: leave the last message open instead
    add_special_tokens: bool | None = None  # None: true for a text, false for messages (the template adds them)
    images: tuple[bytes, ...] = ()
    text: str = ""
    token_ids: tuple[int, ...] = ()

    @property
    def special_tokens(self) -> bool:
        """Whether the tokenizer adds its special tokens (BOS...) to the rendered text."""
        return (not self.messages_json) if self.add_special_tokens is None else self.add_special_tokens


class PromptTokenizer:
    """A model's tokenizer and chat template, as the preprocessing model uses them.

    Given a multimodal `processor`, its chat template renders the messages, and every
    message's content becomes a list of parts (`{"type": "text"}`, `{"type": "image"}`),
    the shape those templates iterate over.
    """

    def __init__(self, model_dir: str | None = None, *, processor: Any = None, tokenizer: Any = None) -> None:
        if processor is not None:
            self.tokenizer = processor.tokenizer
        elif tokenizer is not None:  # the engine's own
            self.tokenizer = tokenizer
        else:
            self.tokenizer = load_tokenizer(model_dir)
        self._templater = processor if getattr(processor, "chat_template", None) else self.tokenizer
        self._parts = processor is not None

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self._templater, "chat_template", None))

    @property
    def template_knows_tools(self) -> bool:
        return "tools" in str(getattr(self._templater, "chat_template", "") or "")

    def render_chat(
        self,
        messages_json: str,
        tools_json: str | None = None,
        *,
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
        template_kwargs_json: str | None = None,
    ) -> str:
        """Render a JSON list of chat messages (and tools) with the model's template, ready for
        a reply (or, with `continue_final_message`, for more of the last message).

        A template that knows no tools gets them in a system prompt, and the conversation's
        earlier calls and results in the <tool_call> / <tool_response> format it asks for.
        `template_kwargs_json` (a JSON object) sets template variables (`enable_thinking`,
        `reasoning_effort`, ...); templates that do not read one ignore it.
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
        if continue_final_message and add_generation_prompt:
            raise InvalidRequest("continue_final_message and add_generation_prompt cannot both be true")
        try:
            return str(
                self._templater.apply_chat_template(
                    messages,
                    tools=tools,
                    tokenize=False,
                    add_generation_prompt=add_generation_prompt,
                    continue_final_message=continue_final_message,
                    **_template_kwargs(template_kwargs_json),
                )
            )
        except InvalidRequest:
            raise
        except Exception as exc:  # jinja2 errors, raise_exception() in templates
            raise InvalidRequest(f"the chat template rejected these messages: {exc}") from exc

    def render(self, prompt: PromptInput) -> str:
        """The text a prompt of messages or text is tokenized from."""
        if not prompt.messages_json:
            return prompt.text
        return self.render_chat(
            prompt.messages_json,
            prompt.tools_json,
            add_generation_prompt=prompt.add_generation_prompt,
            continue_final_message=prompt.continue_final_message,
            template_kwargs_json=prompt.template_kwargs_json,
        )

    def tokenize(self, prompt: PromptInput) -> tuple[str, list[int]]:
        """(the text tokenized, its ids): messages through the chat template, a text as it is,
        token ids as given (with no text)."""
        if prompt.token_ids:
            return "", list(prompt.token_ids)
        text = self.render(prompt)
        # A template writes the special tokens itself (BOS included, where the model has one).
        return text, self.encode(text, add_special_tokens=prompt.special_tokens)

    def token_strings(self, ids: list[int]) -> list[str]:
        """The vocabulary entries of `ids`, as the tokenizer spells them (e.g. 'Ġworld')."""
        return [str(token) for token in self.tokenizer.convert_ids_to_tokens(ids)]

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`, special tokens included (what /detokenize returns)."""
        if any(not 0 <= i < len(self.tokenizer) for i in ids):
            raise InvalidRequest(f"token ids must be in [0, {len(self.tokenizer)})")
        return str(self.tokenizer.decode(ids, skip_special_tokens=False))

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=add_special_tokens))

    def encode_batch(self, texts: list[str], add_special_tokens: bool = True) -> list[list[int]]:
        if not texts:
            return []
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]]


def load_tokenizer(model_dir: str | None) -> Any:
    """The folder's tokenizer, as AutoTokenizer loads it. A tokenizer.json of the generic fast
    class (what GGUF conversion writes) is loaded as that class directly: AutoTokenizer would read
    the model's config first, which imports torch (some 230 MiB in the preprocessing model's process)."""
    config = Path(model_dir or "", "tokenizer_config.json")
    try:
        tokenizer_class = json.loads(config.read_text()).get("tokenizer_class")
    except (OSError, ValueError):
        tokenizer_class = None
    if tokenizer_class in _GENERIC_TOKENIZERS and Path(model_dir or "", "tokenizer.json").is_file():
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(model_dir)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


# transformers' name for a tokenizer that is its tokenizer.json alone (PreTrainedTokenizerFast is
# TokenizersBackend since transformers 5).
_GENERIC_TOKENIZERS = frozenset({"TokenizersBackend", "PreTrainedTokenizerFast"})


def _json_list(text: str, what: str) -> list[Any]:
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, list) or not value:
        raise InvalidRequest(f"{what} must be a non-empty list")
    return value


def _template_kwargs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"chat_template_kwargs is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("chat_template_kwargs must be a JSON object")
    reserved = sorted(_RESERVED_TEMPLATE_KWARGS & value.keys())
    if reserved:
        raise InvalidRequest(f"chat_template_kwargs may not set {', '.join(reserved)}")
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
