"""The <think>...</think> splitter: whole outputs, every way of cutting them into pieces, token counts."""

import pytest

from triton_openai.frontend.serving.reasoning import ReasoningSplitter, prompt_opens_reasoning, split_reasoning

CASES = [
    # (output, starts in reasoning, reasoning, answer)
    ("<think>\nLet me add.\n</think>\n\nIt is 4.", False, "Let me add.", "It is 4."),
    ("  <think>a < b</think>b", False, "a < b", "b"),
    ("Plain answer, <think> later is text.", False, None, "Plain answer, <think> later is text."),
    ("\n\nNo tags at all", False, None, "\n\nNo tags at all"),
    ("<think>cut off by max_tokens", False, "cut off by max_tokens", ""),
    ("Opened by the template.\n</think>\nAnswer", True, "Opened by the template.", "Answer"),
    ("<think>repeated tag</think>Answer", True, "repeated tag", "Answer"),
    ("<thinking> is not the tag", False, None, "<thinking> is not the tag"),
    ("<think></think>Empty", False, None, "Empty"),
    ("<think>x</think>a </think> b", False, "x", "a </think> b"),
    ("", False, None, ""),
]


@pytest.mark.parametrize("text, opened, reasoning, answer", CASES)
def test_whole_outputs(text, opened, reasoning, answer):
    assert split_reasoning(text, opened) == (reasoning, answer)


@pytest.mark.parametrize("text, opened, reasoning, answer", CASES)
def test_streamed_pieces_join_into_the_whole_split(text, opened, reasoning, answer):
    for size in (1, 2, 3, 5):
        splitter = ReasoningSplitter(opened)
        deltas = [splitter.feed(text[i : i + size]) for i in range(0, len(text), size)] + [splitter.finish()]
        assert "".join(d.reasoning for d in deltas) == (reasoning or "")
        assert "".join(d.content for d in deltas) == answer


def test_reasoning_streams_before_the_block_ends():
    splitter = ReasoningSplitter()
    assert splitter.feed("<think>").reasoning == ""
    assert splitter.feed("first thought").reasoning == "first thought"
    assert splitter.feed(" </thi") == splitter.feed("nk>")  # held back, then the tag: nothing either side
    assert splitter.feed(" Answer").content == "Answer"


def test_tokens_of_the_reasoning_block_are_counted():
    splitter = ReasoningSplitter()
    for piece in ["<think>", "one", " two", "</think>", "\n", "Answer", "."]:
        splitter.feed(piece, num_tokens=1)
    splitter.finish()
    assert splitter.reasoning_tokens == 4
    plain = ReasoningSplitter()
    plain.feed("no reasoning", num_tokens=3)
    assert plain.reasoning_tokens == 0


def test_a_prompt_that_opens_the_block():
    assert prompt_opens_reasoning("<|im_start|>assistant\n<think>\n")
    assert not prompt_opens_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n")
