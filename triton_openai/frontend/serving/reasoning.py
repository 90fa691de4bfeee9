"""Splitting a model's reasoning from its answer: a `<think>…</think>` block, whole or streamed.

Reasoning models (DeepSeek R1, Qwen3, QwQ...) write their thoughts first, between
`<think>` and `</think>`, then the answer. The splitter takes the generated text in
pieces as they come and returns what is new on each side; it holds back only what may
still turn out to be a tag, so streamed pieces join into exactly what the whole text
splits into. Templates that open the block themselves (the prompt ends with `<think>`)
start the splitter inside the reasoning; the model may then write `</think>` only.

Only one block, at the start of the output, is reasoning: a `<think>` later in the answer is
text the model writes about tags. Whitespace around the reasoning and at the start of the
answer is dropped. The tokens of pieces that carry reasoning (or its tags) are counted as
reasoning tokens, for `usage.completion_tokens_details.reasoning_tokens`.

Pure; the chat serving, the Responses and the Anthropic adapters share it.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

_BEFORE, _REASONING, _ANSWER = "before", "reasoning", "answer"


@dataclass(frozen=True)
class ReasoningDelta:
    """What a piece of generated text added to each side."""

    reasoning: str = ""
    content: str = ""


def prompt_opens_reasoning(prompt: str) -> bool:
    """Whether a rendered prompt ends inside a reasoning block (its template wrote `<think>`)."""
    return prompt.rstrip().endswith(OPEN_TAG)


class ReasoningSplitter:
    def __init__(self, starts_in_reasoning: bool = False) -> None:
        self._state = _REASONING if starts_in_reasoning else _BEFORE
        self._open_tag_allowed = starts_in_reasoning  # the model may still repeat the opening tag
        self._started = False  # reasoning text (or, in the answer, content) has come out
        self._buffer = ""
        self._fed = 0  # characters fed so far
        self._span: tuple[int, int | None] | None = (0, None) if starts_in_reasoning else None
        self._pieces: list[tuple[int, int, int]] = []  # (start, end, tokens) of every piece fed
        self.reasoning = ""  # all reasoning so far
        self.content = ""  # all of the answer so far

    def feed(self, text: str, num_tokens: int = 0) -> ReasoningDelta:
        """Take the next piece of generated text (`num_tokens` tokens); return what it added."""
        self._pieces.append((self._fed, self._fed + len(text), num_tokens))
        self._fed += len(text)
        self._buffer += text
        return self._drain(final=False)

    def finish(self) -> ReasoningDelta:
        """The end of the output: whatever was held back (an unclosed block is all reasoning)."""
        return self._drain(final=True)

    @property
    def reasoning_tokens(self) -> int:
        """Tokens of the pieces that overlap the reasoning block, its tags included."""
        if self._span is None:
            return 0
        start, end = self._span[0], self._fed if self._span[1] is None else self._span[1]
        return sum(tokens for first, last, tokens in self._pieces if first < end and last > start)

    def _drain(self, final: bool) -> ReasoningDelta:
        reasoning: list[str] = []
        content: list[str] = []
        while True:
            if self._state == _BEFORE:
                if not self._before(final):
                    break
            elif self._state == _REASONING:
                if not self._in_reasoning(final, reasoning):
                    break
            else:
                self._in_answer(final, content)
                break
        delta = ReasoningDelta("".join(reasoning), "".join(content))
        self.reasoning += delta.reasoning
        self.content += delta.content
        return delta

    def _before(self, final: bool) -> bool:
        """Look for the opening tag before any other text; False: wait for more."""
        stripped = self._buffer.lstrip()
        if stripped.startswith(OPEN_TAG):
            self._span = (self._fed - len(self._buffer), None)
            self._buffer = stripped[len(OPEN_TAG) :]
            self._state = _REASONING
            return True
        if not final and OPEN_TAG.startswith(stripped):
            return False
        self._state, self._started = _ANSWER, True  # no reasoning: the text is the answer as it is
        return True

    def _in_reasoning(self, final: bool, out: list[str]) -> bool:
        """Pass reasoning on until the closing tag; False: wait for more."""
        if not self._started:
            self._buffer = self._buffer.lstrip()
            if self._open_tag_allowed:
                if not final and self._buffer and OPEN_TAG.startswith(self._buffer) and self._buffer != OPEN_TAG:
                    return False
                if self._buffer.startswith(OPEN_TAG):
                    self._buffer = self._buffer[len(OPEN_TAG) :].lstrip()
        end = self._buffer.find(CLOSE_TAG)
        if end >= 0:
            self._emit_reasoning(self._buffer[:end].rstrip(), out)
            self._buffer = self._buffer[end + len(CLOSE_TAG) :]
            self._span = (self._span[0] if self._span else 0, self._fed - len(self._buffer))
            self._state, self._started = _ANSWER, False
            return True
        if final:
            self._emit_reasoning(self._buffer.rstrip(), out)
            self._buffer = ""
            return False
        # Hold back a possible start of the closing tag, and trailing whitespace (dropped if the tag follows).
        safe = len(self._buffer) - _partial_suffix(self._buffer, CLOSE_TAG)
        keep = len(self._buffer[:safe].rstrip())
        self._emit_reasoning(self._buffer[:keep], out)
        self._buffer = self._buffer[keep:]
        return False

    def _emit_reasoning(self, text: str, out: list[str]) -> None:
        if text:
            out.append(text)
            self._started = True
            self._open_tag_allowed = False

    def _in_answer(self, final: bool, out: list[str]) -> None:
        if not self._started:
            self._buffer = self._buffer.lstrip()
            if not self._buffer:
                return
            self._started = True
        out.append(self._buffer)
        self._buffer = ""


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of `text` that is a start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def split_reasoning(text: str, starts_in_reasoning: bool = False) -> tuple[str | None, str]:
    """(the reasoning, or None if there is none; the answer) of a whole output."""
    splitter = ReasoningSplitter(starts_in_reasoning)
    splitter.feed(text)
    splitter.finish()
    return (splitter.reasoning or None), splitter.content
