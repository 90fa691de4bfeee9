"""What the Triton models share: reading inputs, tagged errors, a decoupled pool, a generation writer.

`pb_utils` exists only inside Triton's Python backend stub, so the model files pass it
in; everything here is plain Python otherwise.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from triton_openai import contract as t
from triton_openai.model_settings import read_parameters
from triton_openai.models.llm.params import ContextLengthExceeded, EngineOverloaded, InvalidRequest
from triton_openai.models.llm.request import FINISH_CANCELLED

logger = logging.getLogger(__name__)

_Settings = TypeVar("_Settings", bound=BaseModel)


def model_settings(args: dict[str, Any], cls: type[_Settings]) -> _Settings:
    """The model's settings (a triton_openai.model_settings `*Parameters` class), typed, from the
    `parameters` of its config.pbtxt (`args` of `initialize`)."""
    config = json.loads(args["model_config"])
    parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
    return read_parameters(cls, parameters)


def input_array(pb_utils: Any, request: Any, name: str) -> np.ndarray | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def input_scalar(pb_utils: Any, request: Any, name: str, default: Any = None) -> Any:
    """The first element of an optional input, bytes decoded as UTF-8."""
    array = input_array(pb_utils, request, name)
    if array is None or array.size == 0:
        return default
    value = array.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value.item() if hasattr(value, "item") else value


def bytes_tensor(pb_utils: Any, name: str, value: bytes | str) -> Any:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return pb_utils.Tensor(name, np.array([data], dtype=np.object_))


def input_getter(pb_utils: Any, request: Any) -> Callable[[str], np.ndarray | None]:
    """`get(name)`: a request's input as numpy, or None (what triton_openai.models.llm.request_inputs reads)."""
    return lambda name: input_array(pb_utils, request, name)


@contextlib.contextmanager
def client_errors(pb_utils: Any, sender: Any) -> Iterator[None]:
    """End the stream with a tagged error for the client's mistakes (400) and overload (429)."""
    try:
        yield
    except (InvalidRequest, EngineOverloaded) as exc:
        send_error(pb_utils, sender, _tagged(exc))


def _tagged(exc: InvalidRequest | EngineOverloaded) -> str:
    """A client error's message with the tag the frontend reads its status (and code) from."""
    if isinstance(exc, ContextLengthExceeded):
        return t.tag_error(t.CONTEXT_LENGTH_TAG, str(exc))
    if isinstance(exc, InvalidRequest):
        return t.tag_error(t.INVALID_REQUEST_TAG, str(exc))
    return t.tag_error(t.OVERLOADED_TAG, str(exc))


def send_error(pb_utils: Any, sender: Any, message: str) -> None:
    """End a decoupled request's stream with an error."""
    sender.send(
        pb_utils.InferenceResponse(error=pb_utils.TritonError(message)),
        flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
    )


class SendQueue:
    """Sends decoupled responses from one thread of its own, in the order they were queued.

    Building a response's output tensors and handing it to the server costs about half a
    millisecond (the stub's shared memory and a message to the server process): done on the
    engine's thread, every request of a batch would hold up the next step by that much."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="response-sender", daemon=True)
        self._thread.start()

    def put(self, send: Callable[[], None]) -> None:
        self._queue.put(send)

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (send := self._queue.get()) is not None:
            try:
                send()
            except Exception:  # noqa: BLE001 - one failed response must not stop the others
                logger.exception("sending a response failed")


class CancelWatch:
    """Whether requests were cancelled, asked of Triton every `interval` seconds on a thread of
    its own. Each ask (the response sender's `is_cancelled()`) is a round trip to the server
    process of about a millisecond: on the engine's thread, polling a batch of 8 held up every
    step by that much per request. A request is watched from its first `check` until `forget`."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._watched: dict[int, list[Any]] = {}  # id(sender): [sender, cancelled]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cancel-watch", daemon=True)
        self._thread.start()

    def check(self, sender: Any) -> bool:
        """Whether `sender`'s request was cancelled, as last asked (never waits)."""
        with self._lock:
            entry = self._watched.setdefault(id(sender), [sender, False])
            return entry[1]

    def forget(self, sender: Any) -> None:
        with self._lock:
            self._watched.pop(id(sender), None)

    def close(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            with self._lock:
                entries = [entry for entry in self._watched.values() if not entry[1]]
            for entry in entries:
                try:
                    entry[1] = bool(entry[0].is_cancelled())
                except Exception:  # noqa: BLE001 - a request Triton no longer knows is one gone
                    entry[1] = True


class GenerationWriter:
    """Sends a generation's outputs (triton_openai.models.llm.request.GenerationOutput) as the llm model's
    output tensors: every step when streaming, else one response at the end. With a SendQueue
    the responses are built and sent on its thread, and a stream's steps that queue up behind
    other requests' responses go out as one response (the text and tokens of all of them): under
    load each request costs one send per turn of the queue, not one per token, and at low load
    every token still goes out on its own. The first response also carries the rendered prompt,
    when the model rendered one (messages through the chat template). `is_cancelled` asks
    through a CancelWatch where there is one."""

    def __init__(
        self,
        pb_utils: Any,
        sender: Any,
        stream: bool,
        token_bytes: Any,
        sends: SendQueue | None = None,
        rendered_prompt: str | None = None,
        cancels: CancelWatch | None = None,
    ) -> None:
        self.pb = pb_utils
        self.sender = sender
        self.stream = stream
        self.token_bytes = token_bytes  # triton_openai.models.llm.token_bytes.TokenBytes, for logprobs entries
        self.sends = sends
        self.rendered_prompt = rendered_prompt  # sent once, on the first response
        self.text: list[str] = []
        self.ids: list[int] = []
        self.logprobs: list[Any] = []
        self._lock = threading.Lock()  # the engine's thread appends, the sender's thread takes
        self._latest: Any = None  # the newest output whose text waits to be sent
        self._queued = False  # a flush is in the SendQueue
        self.cancels = cancels
        self._ended = False  # the last output came: the request is no longer watched

    def is_cancelled(self) -> bool:
        if self.cancels is None:
            return bool(self.sender.is_cancelled())
        return not self._ended and self.cancels.check(self.sender)

    def __call__(self, output: Any) -> None:
        if self.cancels is not None and (output.error is not None or output.finished):
            self._ended = True
            self.cancels.forget(self.sender)
        if output.error is not None:
            self._dispatch(lambda: send_error(self.pb, self.sender, output.error))
            return
        if output.finish_reason == FINISH_CANCELLED:
            self._dispatch(lambda: self.sender.send(flags=self.pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL))
            return
        with self._lock:
            self.text.append(output.text)
            self.ids.extend(output.token_ids)
            self.logprobs.extend(output.logprobs)
            if self.stream and not output.finished and not output.text:
                return  # an incomplete character: wait for the token that completes it
            if not (self.stream or output.finished):
                return
            self._latest = output
            if self._queued:
                return  # the flush already waiting takes this step too
            self._queued = True
        self._dispatch(self._flush)

    def _flush(self) -> None:
        with self._lock:
            output, text, ids, logprobs = self._latest, "".join(self.text), self.ids, self.logprobs
            self.text, self.ids, self.logprobs = [], [], []
            self._latest, self._queued = None, False
        self._send(output, text, ids, logprobs)

    def _dispatch(self, send: Callable[[], None]) -> None:
        if self.sends is None:
            send()
        else:
            self.sends.put(send)

    def _send(self, output: Any, text: str, ids: list[int], logprob_items: list[Any]) -> None:
        pb = self.pb
        logprobs = self._logprobs_json(logprob_items)
        tensors = [
            pb.Tensor(t.TEXT_OUTPUT, np.array([[text.encode("utf-8")]], dtype=np.object_)),
            pb.Tensor(t.OUTPUT_IDS, np.array([ids], dtype=np.int32)),
            pb.Tensor(t.FINISH_REASON, np.array([[(output.finish_reason or "").encode()]], dtype=np.object_)),
            pb.Tensor(t.NUM_INPUT_TOKENS, np.array([[output.num_prompt_tokens]], dtype=np.int32)),
            pb.Tensor(t.NUM_OUTPUT_TOKENS, np.array([[output.num_output_tokens]], dtype=np.int32)),
            pb.Tensor(t.LOGPROBS, np.array([[logprobs.encode("utf-8")]], dtype=np.object_)),
            pb.Tensor(t.NUM_CACHED_TOKENS, np.array([[output.num_cached_tokens]], dtype=np.int32)),
            pb.Tensor(t.STOP_REASON, np.array([[_stop_string(output).encode("utf-8")]], dtype=np.object_)),
            pb.Tensor(t.STOP_TOKEN_ID, np.array([[_stop_token(output)]], dtype=np.int32)),
        ]
        if self.rendered_prompt is not None:
            tensors.append(pb.Tensor(t.RENDERED_PROMPT, np.array([[self.rendered_prompt.encode()]], dtype=np.object_)))
            self.rendered_prompt = None
        flags = pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL if output.finished else 0
        self.sender.send(pb.InferenceResponse(output_tensors=tensors), flags=flags)

    def _logprobs_json(self, items: list[Any]) -> str:
        if not items:
            return ""
        entries = []
        for item in items:
            entry = self.token_bytes.entry(item.token_id, item.logprob)
            entry["top_logprobs"] = [self.token_bytes.entry(i, lp) for i, lp in item.top]
            entries.append(entry)
        return json.dumps(entries)


def _stop_string(output: Any) -> str:
    """The stop string that ended the output; empty for a stop token id, or none."""
    reason = output.stop_reason if output.finished else None
    return reason if isinstance(reason, str) else ""


def _stop_token(output: Any) -> int:
    """The stop token id (of the request's stop_token_ids) that ended the output; -1 otherwise."""
    reason = output.stop_reason if output.finished else None
    return reason if isinstance(reason, int) else -1


def error_response(pb_utils: Any, exc: BaseException) -> Any:
    if isinstance(exc, InvalidRequest):
        message = _tagged(exc)
    else:
        logger.exception("request failed", exc_info=exc)
        message = f"{type(exc).__name__}: {exc}"
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))


class DecoupledPool:
    """Runs each request of a decoupled model on a worker thread and streams its responses.

    `work(request)` yields lists of output tensors; each list becomes one response. A
    cancelled request stops between responses. Errors end the stream with a tagged
    message (`[invalid_request]` for the client's mistakes).
    """

    def __init__(self, pb_utils: Any, workers: int) -> None:
        self.pb = pb_utils
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decoupled")

    def submit(self, request: Any, work: Callable[[Any], Iterator[list[Any]]]) -> None:
        self.pool.submit(self._run, request, work)

    def _run(self, request: Any, work: Callable[[Any], Iterator[list[Any]]]) -> None:
        final = self.pb.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        sender = request.get_response_sender()
        try:
            for tensors in work(request):
                if sender.is_cancelled():
                    break
                sender.send(self.pb.InferenceResponse(output_tensors=tensors))
        except Exception as exc:  # noqa: BLE001 - every failure must end the stream
            sender.send(error_response(self.pb, exc), flags=final)
            return
        sender.send(flags=final)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
