from triton_openai.models.llm.stop import StopMatcher


def feed_all(matcher, pieces):
    out, matched = [], None
    for piece in pieces:
        text, matched = matcher.feed(piece)
        out.append(text)
        if matched:
            break
    return "".join(out), matched


def test_no_stops_passes_text_through():
    assert StopMatcher().feed("hello") == ("hello", None)


def test_stop_split_across_pieces_is_not_emitted():
    matcher = StopMatcher(("STOP",))
    text, matched = feed_all(matcher, ["abc S", "T", "OP tail"])
    assert (text, matched) == ("abc ", "STOP")


def test_partial_prefix_is_held_back_then_released():
    matcher = StopMatcher(("STOP",))
    assert matcher.feed("abc ST") == ("abc ", None)
    assert matcher.feed("ory") == ("STory", None)


def test_earliest_of_several_stops_wins():
    matcher = StopMatcher(("world", "lo w"))
    assert feed_all(matcher, ["hello world"]) == ("hel", "lo w")


def test_include_stop_in_output():
    matcher = StopMatcher(("\n",), include_in_output=True)
    assert feed_all(matcher, ["line one\nline two"]) == ("line one\n", "\n")


def test_flush_releases_a_held_prefix():
    matcher = StopMatcher(("###",))
    assert matcher.feed("end #") == ("end ", None)
    assert matcher.flush() == "#"
