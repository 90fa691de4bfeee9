"""What a chat generation produces, in no API's wire format.

ServingChat runs a chat request (messages, tools, guides, sampling) and gives either a
whole `Generation` (one `Answer` per choice) or a `GenerationStream` of typed events:
`Started` (once, with the prompt's token count), `ReasoningText` (a reasoning model's
thoughts, split off the answer), `TextDelta`, `ToolCallStart` (a call's
id and name, once the name is complete), `ToolCallArguments` (pieces of its JSON
arguments, which join into the whole answer's `arguments`), `Finished` per choice, and
one `UsageReport` after every choice finished.
Chat completions, the Responses API and Anthropic's Messages API each turn these into
their own objects and stream events.

`AnswerBuilder` makes them from the engine's text: reasoning peeled off first (when the
model's output is split, triton_openai.frontend.serving.reasoning), then plain content, tool
calls (tagged `<tool_call>` blocks, or JSON under a tool guide), or h2oGPT's json_code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.protocol.common import Usage
from triton_openai.frontend.serving.choices import ChoiceResult
from triton_openai.frontend.serving.reasoning import ReasoningSplitter, prompt_opens_reasoning
from triton_openai.frontend.serving.structured import OutputConstraints, chat_constraints, extract_json_code
from triton_openai.frontend.serving.tool_calls import CallDelta, ToolCallExtractor
from triton_openai.frontend.triton.base import GenerationChunk, ServedModel


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass
class Answer:
    """One choice, whole."""

    index: int
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None  # stop, length, tool_calls
    stop_reason: str | int | None = None  # the stop string or stop token id that ended it
    logprobs: list[dict[str, Any]] | None = None  # OpenAI's chat entries, when asked for
    reasoning: str | None = None  # a reasoning model's thoughts, when its output is split


@dataclass
class Generation:
    id: str
    created: int
    model: ServedModel
    answers: list[Answer]
    usage: Usage  # with the cached prompt tokens and the reasoning tokens


@dataclass(frozen=True)
class Started:
    prompt_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True)
class ReasoningText:
    index: int
    text: str
    logprobs: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class TextDelta:
    index: int
    text: str
    logprobs: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class ToolCallStart:
    index: int
    call_index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallArguments:
    index: int
    call_index: int
    arguments: str


@dataclass(frozen=True)
class Finished:
    index: int
    finish_reason: str | None
    stop_reason: str | int | None = None


@dataclass(frozen=True)
class UsageReport:
    usage: Usage


AnswerEvent = Started | ReasoningText | TextDelta | ToolCallStart | ToolCallArguments | Finished | UsageReport


@dataclass
class GenerationStream:
    """A started generation: errors before its first event were raised already. `progress`
    holds each choice's counts so far, as of the last event (for continuous usage)."""

    id: str
    created: int
    model: ServedModel
    events: AsyncIterator[AnswerEvent]
    progress: list[ChoiceResult] = field(default_factory=list)


@dataclass(frozen=True)
class Reasoning:
    """Whether a request's output has its reasoning split out."""

    split: bool = False

    def splitter(self, rendered_prompt: str | None = None) -> ReasoningSplitter | None:
        """The splitter of one choice's output; it starts inside the reasoning when the rendered
        prompt (the model's first chunk carries it) opened the block."""
        if not self.split:
            return None
        return ReasoningSplitter(prompt_opens_reasoning(rendered_prompt or ""))


@dataclass
class AnswerBuilder:
    """Turns one choice's generated text into its answer: whole (`whole`) or as events
    while it streams (`feed`, then `finish`)."""

    request: ChatCompletionRequest
    index: int = 0
    reasoning: Reasoning = Reasoning()
    constraints: OutputConstraints | None = None  # the request's (None: read from it here)

    def __post_init__(self) -> None:
        constraints = self.constraints or chat_constraints(self.request)
        self.tools = ToolCallExtractor(tagged=constraints.tagged_calls) if constraints.tool_calls else None
        self.json_code = constraints.json_code
        self.text = ""
        self.splitter: ReasoningSplitter | None = None  # made at the first chunk (it has the rendered prompt)
        self._started = False

    def _start(self, rendered_prompt: str | None) -> None:
        if not self._started:
            self._started = True
            self.splitter = self.reasoning.splitter(rendered_prompt)

    @property
    def reasoning_tokens(self) -> int:
        """Generated tokens of the reasoning (its tags included) so far."""
        return self.splitter.reasoning_tokens if self.splitter is not None else 0

    def whole(self, result: ChoiceResult) -> Answer:
        """The answer of a finished choice; its reasoning tokens go into `result`."""
        text, thoughts = result.full_text, None
        self._start(result.rendered_prompt)
        if self.splitter is not None:
            for piece, tokens in zip(result.text, result.token_counts, strict=True):
                self.splitter.feed(piece, tokens)
            self.splitter.finish()
            text, thoughts = self.splitter.content, self.splitter.reasoning or None
            result.reasoning_tokens = self.splitter.reasoning_tokens
        answer = Answer(self.index, extract_json_code(text) if self.json_code else text, reasoning=thoughts)
        if self.tools is not None:
            self.tools.feed(text)
            calls = self.tools.calls()
            if calls:
                answer.content = self.tools.content()
                answer.tool_calls = [ToolCall(c.id, c.name, c.arguments) for c in calls]
        answer.finish_reason = self.finish_reason(result.finish_reason)
        answer.stop_reason = result.stop_reason
        answer.logprobs = result.logprobs if self.request.logprobs else None
        return answer

    def finish_reason(self, engine_reason: str | None) -> str | None:
        if self.tools is not None and self.tools.calls() and engine_reason != "length":
            return "tool_calls"
        return engine_reason

    def feed(self, generated: GenerationChunk) -> list[AnswerEvent]:
        """The events of a chunk; after its last chunk, `finish` gives the rest.
        A chunk's logprobs ride on its first event (its reasoning, if it has some)."""
        logprobs = generated.logprobs if self.request.logprobs and generated.logprobs else None
        self._start(generated.rendered_prompt)
        if self.splitter is None:
            return self._content(generated.text, logprobs)
        split = self.splitter.feed(generated.text, len(generated.token_ids))
        events: list[AnswerEvent] = [ReasoningText(self.index, split.reasoning, logprobs)] if split.reasoning else []
        return events + self._content(split.content, None if events else logprobs)

    def _content(self, text: str, logprobs: list[dict[str, Any]] | None) -> list[AnswerEvent]:
        if self.tools is not None:
            return self._events(*self.tools.feed(text))
        if self.json_code:
            self.text += text
            return []
        if text or logprobs is not None:
            return [TextDelta(self.index, text, logprobs)]
        return []

    def finish(self, last: GenerationChunk) -> list[AnswerEvent]:
        events: list[AnswerEvent] = []
        if self.splitter is not None:  # what it held back (a possible tag) comes out now
            split = self.splitter.finish()
            if split.reasoning:
                events.append(ReasoningText(self.index, split.reasoning))
            events += self._content(split.content, None)
        if self.tools is not None:
            events += self._events(*self.tools.finish())
        elif self.json_code:
            events.append(TextDelta(self.index, extract_json_code(self.text)))
        return [*events, Finished(self.index, self.finish_reason(last.finish_reason), last.stop_reason)]

    def _events(self, content: str, calls: list[CallDelta]) -> list[AnswerEvent]:
        events: list[AnswerEvent] = [TextDelta(self.index, content)] if content else []
        for call in calls:
            if call.id is not None:
                events.append(ToolCallStart(self.index, call.index, call.id, call.name or ""))
            if call.arguments:
                events.append(ToolCallArguments(self.index, call.index, call.arguments))
        return events
