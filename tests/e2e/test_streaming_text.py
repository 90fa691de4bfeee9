"""Streamed text never breaks characters or loses spaces (CJK, emoji, accents)."""

from __future__ import annotations

from tests.e2e.conftest import MODEL

# Greedy continuations of these prompts are made of emoji and CJK characters, each spread
# over several byte-level tokens.
FRUIT = "1. 🍎 苹果\n2. 🍌 香蕉\n3. 🍇 葡萄\n4."
EMOJI = "Emoji list: 🎉 🍣 🌸 🚀 🐉 🎈 🍕 🌍"


def completion_pieces(client, prompt, **kwargs):
    full = client.completions.create(model=MODEL, prompt=prompt, temperature=0, **kwargs).choices[0].text
    chunks = client.completions.create(model=MODEL, prompt=prompt, temperature=0, stream=True, **kwargs)
    return full, [c.choices[0].text for c in chunks if c.choices]


def has_cjk(text):
    return any(0x4E00 <= ord(ch) <= 0x9FFF for ch in text)


def has_emoji(text):
    return any(ord(ch) >= 0x1F300 for ch in text)


def test_cjk_and_emoji_stream_intact(client):
    full, pieces = completion_pieces(client, FRUIT, max_tokens=30, stop=["\n5."])
    assert has_cjk(full) and has_emoji(full)
    assert "".join(pieces) == full
    assert all("\ufffd" not in piece for piece in pieces)
    assert len([p for p in pieces if p]) >= 3  # it came in several pieces


def test_cut_inside_a_character_emits_no_replacement_char(client):
    # The 20th token is the first byte of an emoji: the partial character is held back.
    full, pieces = completion_pieces(client, EMOJI, max_tokens=20)
    assert has_emoji(full)
    assert "\ufffd" not in full
    assert "".join(pieces) == full


def test_chat_stream_keeps_spaces(client):
    messages = [{"role": "user", "content": "Write one sentence about the sea."}]
    full = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=40)
    chunks = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=40, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == full.choices[0].message.content
    assert "  " not in streamed and streamed.count(" ") >= 5
