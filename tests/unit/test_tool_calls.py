import json

import pytest

from triton_openai.frontend.serving.tool_calls import ToolCallExtractor, scan_calls

ONE = '{"name": "get_weather", "arguments": {"city": "Paris", "note": "a } \\" tricky [ string"}}'
MANY = '[{"name": "a", "arguments": {"x": [1, {"y": 2}]}}, {"name": "b", "arguments": {}}]'


def stream(extractor: ToolCallExtractor, text: str, step: int = 1):
    content, calls = "", {}
    pieces = [text[i : i + step] for i in range(0, len(text), step)]
    deltas = []
    for piece in pieces:
        c, d = extractor.feed(piece)
        content += c
        deltas += d
    c, d = extractor.finish()
    content += c
    deltas += d
    for delta in deltas:
        call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
        if delta.id:
            assert call["id"] is None, "a call is announced once"
            call["id"], call["name"] = delta.id, delta.name
        call["arguments"] += delta.arguments
    return content, [calls[i] for i in sorted(calls)]


def test_scan_one_call():
    [span] = scan_calls(ONE, 0)
    assert span.name == "get_weather"
    assert json.loads(ONE[span.args_start : span.args_end]) == {"city": "Paris", "note": 'a } " tricky [ string'}
    assert span.end == len(ONE)


def test_scan_array_of_calls():
    spans = scan_calls(MANY, 0)
    assert [s.name for s in spans] == ["a", "b"]
    assert [MANY[s.args_start : s.args_end] for s in spans] == ['{"x": [1, {"y": 2}]}', "{}"]


def test_scan_truncated_text():
    [span] = scan_calls(ONE[:45], 0)
    assert span.name == "get_weather" and span.args_start is not None and span.args_end is None and span.end is None


@pytest.mark.parametrize("text", [ONE, MANY, '{"arguments": {"q": 1}, "name": "late_name"}', '{"name": "no_args"}'])
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_streamed_deltas_join_into_the_final_calls(text, step):
    content, streamed = stream(ToolCallExtractor(tagged=False), text, step)
    final = ToolCallExtractor(tagged=False)
    final.feed(text)
    calls = final.calls()
    assert content == ""
    assert [(c["name"], c["arguments"]) for c in streamed] == [(c.name, c.arguments) for c in calls]
    for call in calls:
        json.loads(call.arguments)


def test_tagged_text_with_content_and_calls():
    text = f"Let me check.\n<tool_call>\n{ONE}\n</tool_call>\n<tool_call>{MANY}</tool_call>"
    content, streamed = stream(ToolCallExtractor(tagged=True), text, 2)
    assert content == "Let me check.\n"
    assert [c["name"] for c in streamed] == ["get_weather", "a", "b"]
    final = ToolCallExtractor(tagged=True)
    final.feed(text)
    assert final.content() == "Let me check."
    assert [c.name for c in final.calls()] == ["get_weather", "a", "b"]


def test_tagged_text_without_calls_is_all_content():
    text = "The answer is 4. <tool_ is not a tag"
    content, streamed = stream(ToolCallExtractor(tagged=True), text, 1)
    assert content == text and streamed == []


def test_a_broken_call_falls_back_to_content():
    text = "Sure <tool_call> {not json at all"
    content, streamed = stream(ToolCallExtractor(tagged=True), text, 4)
    assert content == text and streamed == []
    final = ToolCallExtractor(tagged=True)
    final.feed(text)
    assert final.calls() == [] and final.content() == text
