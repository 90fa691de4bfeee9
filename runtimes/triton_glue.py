"""What the non-LLM Triton models share: reading inputs, tagged errors, a decoupled pool.

`pb_utils` exists only inside Triton's Python backend stub, so the model files pass it
in; everything here is plain Python otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from engine import tensors as t
from engine.params import InvalidRequest

logger = logging.getLogger(__name__)


def model_parameters(config: dict[str, Any]) -> dict[str, str]:
    return {key: value["string_value"] for key, value in config.get("parameters", {}).items()}


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


def error_response(pb_utils: Any, exc: BaseException) -> Any:
    if isinstance(exc, InvalidRequest):
        message = t.tag_error(t.INVALID_REQUEST_TAG, str(exc))
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
