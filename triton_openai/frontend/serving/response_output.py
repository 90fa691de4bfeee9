"""A response's output items, built step by step from the answer, with the stream events of each step.

The same builder makes the output of a streamed and of a whole response, so the SDK's
stream helpers, which apply the events to the `response.created` snapshot, end with the
very items of `response.completed`:

    reasoning       response.output_item.added (reasoning), response.content_part.added,
                    then response.reasoning_text.delta for each piece
    text            (the reasoning is done: response.reasoning_text.done, response.content_part.done,
                    response.output_item.done) response.output_item.added (message),
                    response.content_part.added, then response.output_text.delta for each piece
    call_start      (the open message is done) response.output_item.added (function_call)
    call_arguments  response.function_call_arguments.delta
    finish          response.output_text.done, response.content_part.done,
                    response.function_call_arguments.done, response.output_item.done
"""

from __future__ import annotations

from typing import Any

from triton_openai.frontend.protocol.responses import (
    ArgumentsDeltaEvent,
    ArgumentsDoneEvent,
    ContentPartEvent,
    FunctionCall,
    OutputItemEvent,
    OutputLogprob,
    OutputMessage,
    OutputText,
    ReasoningDeltaEvent,
    ReasoningDoneEvent,
    ReasoningOutput,
    ReasoningTextPart,
    ResponseEvent,
    ResponseObject,
    StreamEvent,
    TextDeltaEvent,
    TextDoneEvent,
)
from triton_openai.frontend.serving.answer import Answer
from triton_openai.frontend.serving.response_items import new_id

_TextItem = OutputMessage | ReasoningOutput  # the items with one text part


def lifecycle_event(kind: str, response: ResponseObject) -> ResponseEvent:
    return ResponseEvent(type=kind, response=response)


class Output:
    def __init__(self) -> None:
        self.items: list[OutputMessage | FunctionCall | ReasoningOutput] = []
        self._reasoning: ReasoningOutput | None = None  # the reasoning being written
        self._message: OutputMessage | None = None  # the message being written
        self._calls: dict[int, FunctionCall] = {}  # calls being written, by their index in the answer

    def add_answer(self, answer: Answer) -> None:
        """A whole answer (its events are not needed)."""
        if answer.reasoning:
            self.reasoning(answer.reasoning)
        if answer.content:
            self.text(answer.content, answer.logprobs)
        for index, call in enumerate(answer.tool_calls):
            self.call_start(index, call.id, call.name)
            self.call_arguments(index, call.arguments)
        self.finish(incomplete=answer.finish_reason == "length")

    def reasoning(self, delta: str) -> list[StreamEvent]:
        events: list[StreamEvent] = [] if self._reasoning is not None else self._open_reasoning()
        item = self._reasoning
        assert item is not None
        item.content[0].text += delta
        index = self.items.index(item)
        return [*events, ReasoningDeltaEvent(item_id=item.id, output_index=index, content_index=0, delta=delta)]

    def _open_reasoning(self) -> list[StreamEvent]:
        self._reasoning = ReasoningOutput(id=new_id("rs"), status="in_progress", content=[])
        return self._open_item(self._reasoning, ReasoningTextPart(text=""))

    def _open_item(self, item: _TextItem, part: OutputText | ReasoningTextPart) -> list[StreamEvent]:
        """A message or reasoning item and its one content part, added."""
        self.items.append(item)
        index = len(self.items) - 1
        added = OutputItemEvent(type="response.output_item.added", output_index=index, item=item.model_copy(deep=True))
        item.content.append(part)  # type: ignore[arg-type]  # a message's OutputText, reasoning's ReasoningTextPart
        started = ContentPartEvent(
            type="response.content_part.added",
            item_id=item.id,
            output_index=index,
            content_index=0,
            part=part.model_copy(),
        )
        return [added, started]

    def _close_reasoning(self, incomplete: bool) -> list[StreamEvent]:
        item = self._reasoning
        if item is None:
            return []
        self._reasoning = None
        index = self.items.index(item)
        text = ReasoningDoneEvent(item_id=item.id, output_index=index, content_index=0, text=item.content[0].text)
        return self._item_done(item, incomplete, text)

    def _item_done(self, item: _TextItem, incomplete: bool, text_done: StreamEvent) -> list[StreamEvent]:
        """A message or reasoning item finished: its text, its part and itself done."""
        item.status = "incomplete" if incomplete else "completed"
        index = self.items.index(item)
        part = ContentPartEvent(
            type="response.content_part.done",
            item_id=item.id,
            output_index=index,
            content_index=0,
            part=item.content[0].model_copy(deep=True),
        )
        done = OutputItemEvent(type="response.output_item.done", output_index=index, item=item.model_copy(deep=True))
        return [text_done, part, done]

    def text(self, delta: str, logprobs: list[dict[str, Any]] | None) -> list[StreamEvent]:
        events = self._close_reasoning(incomplete=False)
        if self._message is None:
            events += self._open_message()
        message = self._message
        assert message is not None
        part = message.content[0]
        part.text += delta
        entries = [OutputLogprob.model_validate(entry) for entry in logprobs or []]
        if logprobs is not None:
            part.logprobs = [*(part.logprobs or []), *entries]
        index = self.items.index(message)
        events.append(
            TextDeltaEvent(item_id=message.id, output_index=index, content_index=0, delta=delta, logprobs=entries)
        )
        return events

    def _open_message(self) -> list[StreamEvent]:
        self._message = OutputMessage(id=new_id("msg"), status="in_progress", content=[])
        return self._open_item(self._message, OutputText(text=""))

    def call_start(self, call_index: int, call_id: str, name: str) -> list[StreamEvent]:
        events = self._close_reasoning(incomplete=False) + self._close_message(incomplete=False)
        call = FunctionCall(id=new_id("fc"), call_id=call_id, name=name, arguments="", status="in_progress")
        self.items.append(call)
        self._calls[call_index] = call
        added = OutputItemEvent(
            type="response.output_item.added", output_index=len(self.items) - 1, item=call.model_copy()
        )
        return [*events, added]

    def call_arguments(self, call_index: int, arguments: str) -> list[StreamEvent]:
        call = self._calls[call_index]
        call.arguments += arguments
        return [ArgumentsDeltaEvent(item_id=call.id, output_index=self.items.index(call), delta=arguments)]

    def finish(self, incomplete: bool) -> list[StreamEvent]:
        """Every item done (an answer with neither text nor calls still gets its empty message)."""
        events = self._close_reasoning(incomplete)
        if not any(isinstance(item, OutputMessage | FunctionCall) for item in self.items):
            events += self._open_message()
        events += self._close_message(incomplete)
        status = "incomplete" if incomplete else "completed"
        for call in self._calls.values():
            call.status = status
            index = self.items.index(call)
            done = ArgumentsDoneEvent(item_id=call.id, output_index=index, arguments=call.arguments)
            item = OutputItemEvent(type="response.output_item.done", output_index=index, item=call.model_copy())
            events += [done, item]
        self._calls = {}
        return events

    def _close_message(self, incomplete: bool) -> list[StreamEvent]:
        message = self._message
        if message is None:
            return []
        self._message = None
        index = self.items.index(message)
        part = message.content[0]
        logprobs = part.logprobs or []
        text = TextDoneEvent(item_id=message.id, output_index=index, content_index=0, text=part.text, logprobs=logprobs)
        return self._item_done(message, incomplete, text)
