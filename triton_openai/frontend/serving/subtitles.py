"""Subtitles from transcription segments: SubRip (srt) and WebVTT (vtt)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(segments: Iterable[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    cues = []
    for segment in segments:
        # A cue's text may not contain a blank line (it would end the cue); "-->" is reserved in vtt.
        text = "\n".join(line.strip() for line in str(segment["text"]).strip().splitlines() if line.strip())
        if text:
            cues.append((float(segment["start"]), float(segment["end"]), text.replace("-->", "->")))
    return cues


def to_srt(segments: Iterable[Mapping[str, Any]]) -> str:
    blocks = [
        f"{index}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n"
        for index, (start, end, text) in enumerate(_cues(segments), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: Iterable[Mapping[str, Any]]) -> str:
    blocks = [f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n" for start, end, text in _cues(segments)]
    return "WEBVTT\n\n" + "\n".join(blocks)
