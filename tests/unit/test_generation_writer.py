"""GenerationWriter: the llm model's streamed responses, one per step at low load, several steps
in one response when they queue up behind other requests' sends.

Triton's python backend utilities exist only inside a stub, so these tests hand the writer a
recording stand-in for `pb_utils` (named as one): it keeps the tensors and flags of each response.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from triton_openai import contract as t
from triton_openai.models.llm.request import FINISH_CANCELLED, GenerationOutput
from triton_openai.models.python_backend import GenerationWriter

FINAL = 1


class RecordingPbUtils:
    """Test stand-in for triton_python_backend_utils: responses are plain records."""

    TRITONSERVER_RESPONSE_COMPLETE_FINAL = FINAL

    @staticmethod
    def Tensor(name, array):  # noqa: N802 - pb_utils' spelling
        return name, array

    @staticmethod
    def InferenceResponse(output_tensors=(), error=None):  # noqa: N802
        return {"tensors": dict(output_tensors), "error": error}

    @staticmethod
    def TritonError(message):  # noqa: N802
        return message


@dataclass
class RecordingSender:
    sent: list[tuple[dict | None, int]] = field(default_factory=list)

    def send(self, response=None, flags=0):
        self.sent.append((response, flags))

    def texts(self) -> list[str]:
        return [r["tensors"][t.TEXT_OUTPUT][0][0].decode() for r, _ in self.sent if r and r["tensors"]]


class HeldQueue:
    """A SendQueue whose thread is busy elsewhere: sends run only when `drain` is called."""

    def __init__(self) -> None:
        self.pending = []

    def put(self, send) -> None:
        self.pending.append(send)

    def drain(self) -> None:
        pending, self.pending = self.pending, []
        for send in pending:
            send()


def step(text: str, token: int, n: int, finish: str | None = None) -> GenerationOutput:
    return GenerationOutput(text, [token], num_prompt_tokens=5, num_output_tokens=n, finish_reason=finish)


def test_every_step_is_its_own_response_when_the_sender_keeps_up():
    sender = RecordingSender()
    writer = GenerationWriter(RecordingPbUtils, sender, stream=True, token_bytes=None)
    for n, (text, token) in enumerate([("He", 1), ("llo", 2), ("!", 3)], 1):
        writer(step(text, token, n, "length" if n == 3 else None))
    assert sender.texts() == ["He", "llo", "!"]
    assert [flags for _, flags in sender.sent] == [0, 0, FINAL]


def test_steps_that_queue_up_go_out_as_one_response_with_all_their_tokens():
    sender, queue = RecordingSender(), HeldQueue()
    writer = GenerationWriter(RecordingPbUtils, sender, stream=True, token_bytes=None, sends=queue)
    writer(step("He", 1, 1))
    writer(step("llo", 2, 2))
    writer(step(" you", 3, 3))
    assert len(queue.pending) == 1  # one flush waits for all three steps
    queue.drain()
    writer(step("!", 4, 4, "length"))
    queue.drain()
    assert sender.texts() == ["Hello you", "!"]
    first, last = sender.sent[0][0]["tensors"], sender.sent[1][0]["tensors"]
    assert first[t.OUTPUT_IDS].tolist() == [[1, 2, 3]] and first[t.NUM_OUTPUT_TOKENS].tolist() == [[3]]
    assert last[t.OUTPUT_IDS].tolist() == [[4]] and last[t.FINISH_REASON].tolist() == [[b"length"]]
    assert [flags for _, flags in sender.sent] == [0, FINAL]


def test_the_final_step_queued_behind_others_ends_the_stream_once():
    sender, queue = RecordingSender(), HeldQueue()
    writer = GenerationWriter(RecordingPbUtils, sender, stream=True, token_bytes=None, sends=queue)
    writer(step("a", 1, 1))
    writer(step("b", 2, 2, "stop"))
    queue.drain()
    assert sender.texts() == ["ab"]
    assert [flags for _, flags in sender.sent] == [FINAL]


def test_a_cancelled_stream_sends_what_was_generated_then_ends():
    sender, queue = RecordingSender(), HeldQueue()
    writer = GenerationWriter(RecordingPbUtils, sender, stream=True, token_bytes=None, sends=queue)
    writer(step("a", 1, 1))
    writer(GenerationOutput("", [], 5, 1, finish_reason=FINISH_CANCELLED))
    queue.drain()
    assert sender.texts() == ["a"]
    assert sender.sent[-1] == (None, FINAL)


def test_an_incomplete_character_waits_for_the_token_that_completes_it():
    sender = RecordingSender()
    writer = GenerationWriter(RecordingPbUtils, sender, stream=True, token_bytes=None)
    writer(step("", 7, 1))  # the first byte of a two-byte character
    writer(step("é", 8, 2))
    assert sender.texts() == ["é"]
    assert sender.sent[0][0]["tensors"][t.OUTPUT_IDS].tolist() == [[7, 8]]


def test_without_streaming_one_response_holds_the_whole_generation():
    sender = RecordingSender()
    writer = GenerationWriter(RecordingPbUtils, sender, stream=False, token_bytes=None)
    for n, text in enumerate(["a", "b", "c"], 1):
        writer(step(text, n, n, "length" if n == 3 else None))
    assert sender.texts() == ["abc"]
    assert [flags for _, flags in sender.sent] == [FINAL]


def test_the_first_response_carries_the_rendered_prompt_and_the_last_what_stopped_it():
    sender = RecordingSender()
    writer = GenerationWriter(RecordingPbUtils, sender, stream=True, token_bytes=None, rendered_prompt="<think>\n")
    writer(step("a", 1, 1))
    stop = step("b", 2, 2, "stop")
    stop.stop_reason = 2  # a stop token id
    writer(stop)
    first, last = (response["tensors"] for response, _ in sender.sent)
    assert first[t.RENDERED_PROMPT].tolist() == [[b"<think>\n"]] and t.RENDERED_PROMPT not in last
    assert first[t.STOP_TOKEN_ID].tolist() == [[-1]] and last[t.STOP_TOKEN_ID].tolist() == [[2]]
    assert last[t.STOP_REASON].tolist() == [[b""]]  # the stop string: none
    stop.stop_reason = " Paris"
    sender.sent.clear()
    GenerationWriter(RecordingPbUtils, sender, stream=True, token_bytes=None)(stop)
    ((response, _),) = sender.sent
    assert response["tensors"][t.STOP_REASON].tolist() == [[b" Paris"]]
    assert response["tensors"][t.STOP_TOKEN_ID].tolist() == [[-1]]


class CancellableSender(RecordingSender):
    """A sender whose request the client may cancel; counts how often Triton is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = False
        self.asked = 0

    def is_cancelled(self) -> bool:
        self.asked += 1
        return self.cancelled


def test_cancellation_is_asked_on_the_watch_thread_and_stops_at_the_last_output():
    import time

    from triton_openai.models.python_backend import CancelWatch

    watch = CancelWatch(interval=0.001)
    try:
        sender = CancellableSender()
        writer = GenerationWriter(RecordingPbUtils, sender, stream=True, token_bytes=None, cancels=watch)
        assert writer.is_cancelled() is False and sender.asked == 0  # the engine's check never asks Triton
        sender.cancelled = True
        deadline = time.monotonic() + 2
        while not writer.is_cancelled() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert writer.is_cancelled() and sender.asked >= 1

        finished = CancellableSender()
        done = GenerationWriter(RecordingPbUtils, finished, stream=True, token_bytes=None, cancels=watch)
        done.is_cancelled()
        done(GenerationOutput(text="x", token_ids=[1], num_prompt_tokens=3, num_output_tokens=1, finish_reason="stop"))
        asked = finished.asked
        time.sleep(0.02)
        assert finished.asked == asked and not done.is_cancelled()  # no longer watched
    finally:
        watch.close()
