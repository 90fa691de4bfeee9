"""Stop strings: find them across token boundaries and keep them out of the text.

Text is released only once it can no longer be the start of a stop string, so a stop
string that arrives split over several tokens is never partly streamed.
"""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: tuple[str, ...] = (), include_in_output: bool = False) -> None:
        self._stops = tuple(s for s in stops if s)
        self._include = include_in_output
        self._pending = ""

    def feed(self, text: str) -> tuple[str, str | None]:
        """Add decoded text; return (text safe to emit, the stop string matched or None)."""
        if not self._stops:
            return text, None
        self._pending += text
        hit = self._earliest_match()
        if hit is not None:
            index, stop = hit
            end = index + len(stop) if self._include else index
            emitted, self._pending = self._pending[:end], ""
            return emitted, stop
        keep = self._partial_suffix_length()
        cut = len(self._pending) - keep
        emitted, self._pending = self._pending[:cut], self._pending[cut:]
        return emitted, None

    def flush(self) -> str:
        """Release held-back text when the sequence ends for another reason."""
        emitted, self._pending = self._pending, ""
        return emitted

    def _earliest_match(self) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for stop in self._stops:
            index = self._pending.find(stop)
            if index >= 0 and (best is None or index < best[0]):
                best = (index, stop)
        return best

    def _partial_suffix_length(self) -> int:
        """Length of the longest suffix of the pending text that begins some stop string."""
        longest = 0
        for stop in self._stops:
            for length in range(min(len(stop) - 1, len(self._pending)), longest, -1):
                if self._pending.endswith(stop[:length]):
                    longest = length
                    break
        return longest
