"""Cutting a document's text into overlapping pieces small enough to embed and to quote in a prompt.

A chunk ends at the last paragraph break in its window if there is one past the window's
middle, else at a line end, a sentence end, a word end, and only as a last resort in the
middle of a word: pieces that end where the text's own units end embed and read better.
The next chunk starts up to `overlap` characters before the previous one ended (moved
forward to a word start), so a sentence cut in two is whole in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Boundaries, best first; a chunk ends just after one of them.
_SEPARATORS = ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ")


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # text == source[start:end]
    end: int


def chunk_text(text: str, chunk_size: int = 512, overlap: int = 64) -> list[Chunk]:
    """Chunks of at most chunk_size characters, none empty, in order; the same text gives the same chunks."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if not 0 <= overlap < chunk_size:
        raise ValueError("overlap must be at least 0 and less than chunk_size")
    length = len(text.rstrip())
    chunks: list[Chunk] = []
    start = _skip_space(text, 0, length)
    while start < length:
        end = _end(text, start, length, chunk_size, overlap)
        chunks.append(_trimmed(text, start, end))
        if end >= length:
            break
        start = _skip_space(text, _next_start(text, start, end, overlap), length)
    return chunks


def _end(text: str, start: int, length: int, chunk_size: int, overlap: int) -> int:
    limit = start + chunk_size
    if limit >= length:
        return length
    # Past the window's middle (and past the overlap, so the next chunk starts further on).
    earliest = start + max(chunk_size // 2, overlap + 1)
    for separator in _SEPARATORS:
        at = text.rfind(separator, earliest, limit)
        if at >= 0:
            return at + len(separator)
    return limit


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    """end - overlap, moved forward to the next word's start if it would split a word (the overlap shrinks,
    never grows); where no word starts before end (a chunk cut inside a long word) it stays put."""
    position = max(end - overlap, start + 1)
    for candidate in range(position, end):
        if text[candidate - 1].isspace() or text[candidate].isspace():
            return candidate
    return position


def _skip_space(text: str, position: int, length: int) -> int:
    while position < length and text[position].isspace():
        position += 1
    return position


def _trimmed(text: str, start: int, end: int) -> Chunk:
    while end > start and text[end - 1].isspace():
        end -= 1
    return Chunk(text[start:end], start, end)
