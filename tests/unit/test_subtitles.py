"""srt and vtt from segments, read back with real subtitle parsers."""

import io

import srt
import webvtt

from triton_openai.frontend.serving.subtitles import to_srt, to_vtt

SEGMENTS = [
    {"start": 0.0, "end": 2.5, "text": " Hello there."},
    {"start": 2.5, "end": 3661.042, "text": " A cue past the hour,\n\nwith a blank line --> inside."},
    {"start": 3661.1, "end": 3662.0, "text": "   "},  # nothing to show: no cue
]


def test_srt_parses_with_ordered_cues_and_exact_times():
    cues = list(srt.parse(to_srt(SEGMENTS)))
    assert [c.index for c in cues] == [1, 2]
    assert cues[0].content == "Hello there."
    assert cues[1].start.total_seconds() == 2.5
    assert cues[1].end.total_seconds() == 3661.042
    assert "\n\n" not in cues[1].content


def test_vtt_parses_with_header_and_times():
    text = to_vtt(SEGMENTS)
    assert text.startswith("WEBVTT\n\n")
    captions = webvtt.from_buffer(io.StringIO(text)).captions
    assert [c.start for c in captions] == ["00:00:00.000", "00:00:02.500"]
    assert captions[1].end == "01:01:01.042"
    assert "-->" not in captions[1].text


def test_no_segments_give_empty_but_valid_files():
    assert list(srt.parse(to_srt([]))) == []
    assert to_vtt([]) == "WEBVTT\n\n"
