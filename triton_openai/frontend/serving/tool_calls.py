"""Finding tool calls in generated text, whole or while it streams.

Two shapes of output carry calls:
- JSON mode (tool_choice required or named: constrained decoding): the whole output is a
  call object `{"name": ..., "arguments": {...}}` or a JSON array of them;
- tagged mode (tool_choice auto): free text in which each `<tool_call>...</tool_call>`
  block holds a call object or an array of them (the Hermes / Qwen / SmolLM2 format).

A small JSON scanner finds, in text that may end anywhere, each call object's name and the
span of its `arguments` value. Streaming sends a call's id and name as soon as the name is
complete, then the raw text of its arguments as it arrives, so the fragments join into
exactly the `arguments` string of the non-streamed answer.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

OPEN_TAG = "<tool_call>"


@dataclass
class CallSpan:
    start: int
    name: str | None = None
    args_start: int | None = None
    args_end: int | None = None
    end: int | None = None


@dataclass
class _Frame:
    kind: str  # "{" or "["
    call: CallSpan | None = None
    expecting: str = "key"  # key, colon, value, in_value, comma
    key: str | None = None
    value_key: str | None = None
    value_start: int = 0
    value_primitive: bool = False


def scan_calls(text: str, position: int) -> list[CallSpan]:
    """Call objects in the JSON value starting at `position` (an object or an array of
    objects); tolerant of text that stops in the middle."""
    calls: list[CallSpan] = []
    stack: list[_Frame] = []
    string_start, escaped = -1, False
    i = position
    while i < len(text):
        ch = text[i]
        if string_start >= 0:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                _string_done(stack, text, string_start, i + 1)
                string_start = -1
        elif ch == '"':
            if not stack:
                break
            _value_begins(stack, i, primitive=False)
            string_start = i
        elif ch in "{[":
            if stack:
                _value_begins(stack, i, primitive=False)
            frame = _Frame(kind=ch, expecting="key" if ch == "{" else "value")
            if ch == "{" and (not stack or (len(stack) == 1 and stack[0].kind == "[")):
                frame.call = CallSpan(start=i)
                calls.append(frame.call)
            stack.append(frame)
        elif ch in "}]":
            if not stack:
                break
            frame = stack.pop()
            _primitive_done(frame, text, i)
            if frame.call is not None:
                frame.call.end = i + 1
            if not stack:
                break
            _value_done(stack[-1], i + 1)
        elif ch == ":" and stack:
            stack[-1].expecting = "value"
        elif ch == "," and stack:
            _primitive_done(stack[-1], text, i)
            stack[-1].expecting = "key" if stack[-1].kind == "{" else "value"
        elif not ch.isspace():
            if not stack:
                break
            _value_begins(stack, i, primitive=True)
        i += 1
    return calls


def _value_begins(stack: list[_Frame], i: int, primitive: bool) -> None:
    frame = stack[-1]
    if frame.expecting != "value":
        return
    frame.expecting, frame.value_key, frame.value_start, frame.value_primitive = "in_value", frame.key, i, primitive
    if frame.call is not None and frame.key == "arguments":
        frame.call.args_start = i


def _value_done(frame: _Frame, end: int) -> None:
    if frame.expecting != "in_value":
        return
    frame.expecting = "comma"
    if frame.call is not None and frame.value_key == "arguments":
        frame.call.args_end = end


def _primitive_done(frame: _Frame, text: str, i: int) -> None:
    if frame.expecting == "in_value" and frame.value_primitive:
        end = i
        while end > frame.value_start and text[end - 1].isspace():
            end -= 1
        _value_done(frame, end)


def _string_done(stack: list[_Frame], text: str, start: int, end: int) -> None:
    frame = stack[-1]
    if frame.kind == "{" and frame.expecting == "key":
        frame.key, frame.expecting = _decode(text[start:end]), "colon"
        return
    if frame.expecting == "in_value" and frame.value_start == start:
        if frame.call is not None and frame.value_key == "name":
            frame.call.name = _decode(text[start:end])
        _value_done(frame, end)


def _decode(literal: str) -> str | None:
    try:
        value = json.loads(literal)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, str) else None


@dataclass
class ParsedCall:
    id: str
    name: str
    arguments: str


@dataclass
class CallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass
class ToolCallExtractor:
    """Feed generated text (`feed`), then `finish`; `calls` and `content` give the result."""

    tagged: bool
    text: str = ""
    _content_sent: int = 0
    _ids: list[str] = field(default_factory=list)
    _args_sent: list[int] = field(default_factory=list)

    def feed(self, delta: str) -> tuple[str, list[CallDelta]]:
        """Content to stream now, and call deltas (a new call's id and name, argument text)."""
        self.text += delta
        content = self._content_delta(final=False)
        return content, self._call_deltas(final=False)

    def finish(self) -> tuple[str, list[CallDelta]]:
        """What is left to stream once the text is complete."""
        deltas = self._call_deltas(final=True)
        if not self.calls():
            # No complete call after all: what looked like one is content.
            return self._content_delta(final=True, everything=True), deltas
        return self._content_delta(final=True), deltas

    def spans(self) -> list[CallSpan]:
        if not self.tagged:
            start = len(self.text) - len(self.text.lstrip())
            return scan_calls(self.text, start)
        spans: list[CallSpan] = []
        position = self.text.find(OPEN_TAG)
        while position >= 0:
            body = position + len(OPEN_TAG)
            while body < len(self.text) and self.text[body].isspace():
                body += 1
            spans.extend(scan_calls(self.text, body))
            position = self.text.find(OPEN_TAG, body)
        return spans

    def calls(self) -> list[ParsedCall]:
        """The complete calls (a name, and arguments that ended or were never given)."""
        calls = []
        for index, span in enumerate(self.spans()):
            if span.name is None or span.end is None:
                continue
            arguments = "{}" if span.args_start is None else self.text[span.args_start : span.args_end]
            calls.append(ParsedCall(self._id(index), span.name, arguments))
        return calls

    def content(self) -> str | None:
        """The text outside the calls (None when there is none)."""
        if not self.tagged:
            return None if self.calls() else self.text or None
        if not self.calls():
            return self.text or None
        before = self.text[: self.text.find(OPEN_TAG)].strip()
        return before or None

    def _id(self, index: int) -> str:
        while len(self._ids) <= index:
            self._ids.append(f"call_{uuid.uuid4().hex[:24]}")
        return self._ids[index]

    def _content_delta(self, final: bool, everything: bool = False) -> str:
        if not self.tagged and not everything:
            return ""
        limit = len(self.text)
        tag = self.text.find(OPEN_TAG)
        if tag >= 0 and not everything:
            limit = tag
        elif not final:
            limit -= _partial_tag(self.text)
        piece = self.text[self._content_sent : limit] if limit > self._content_sent else ""
        self._content_sent = max(self._content_sent, limit)
        return piece

    def _call_deltas(self, final: bool) -> list[CallDelta]:
        deltas = []
        for index, span in enumerate(self.spans()):
            if span.name is None:
                break  # calls are announced in order
            while len(self._args_sent) <= index:
                self._args_sent.append(-1)
            if self._args_sent[index] < 0:
                deltas.append(CallDelta(index, self._id(index), span.name))
                self._args_sent[index] = 0
            if span.args_start is not None:
                end = span.args_end if span.args_end is not None else len(self.text)
                piece = self.text[span.args_start + self._args_sent[index] : end]
                if piece:
                    deltas.append(CallDelta(index, arguments=piece))
                    self._args_sent[index] += len(piece)
            elif final and span.end is not None and self._args_sent[index] == 0:
                deltas.append(CallDelta(index, arguments="{}"))
                self._args_sent[index] = 2
        return deltas


def _partial_tag(text: str) -> int:
    """Length of the end of `text` that could be the start of the opening tag."""
    for length in range(min(len(OPEN_TAG) - 1, len(text)), 0, -1):
        if text.endswith(OPEN_TAG[:length]):
            return length
    return 0
