"""Read generation parameters out of a Triton request's optional input tensors.

Pure numpy: the model.py glue passes a `get(name) -> np.ndarray | None` function, so this
is tested without Triton. Every tensor has a leading batch dimension of 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from triton_openai import contract as t
from triton_openai.models.llm.params import InvalidRequest, SamplingParams
from triton_openai.models.llm.prompts import PromptInput

GetInput = Callable[[str], "np.ndarray | None"]


def _scalar(get: GetInput, name: str) -> Any:
    array = get(name)
    if array is None or array.size == 0:
        return None
    value = array.reshape(-1)[0]
    return value.item() if isinstance(value, np.generic) else value


def _text(get: GetInput, name: str) -> str:
    value = _scalar(get, name)
    if value is None:
        return ""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _strings(get: GetInput, name: str) -> tuple[str, ...]:
    array = get(name)
    if array is None:
        return ()
    values = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
    return tuple(v for v in values if v)


def _ints(get: GetInput, name: str) -> tuple[int, ...]:
    array = get(name)
    return () if array is None else tuple(int(v) for v in array.reshape(-1))


def _prompt_ids(get: GetInput) -> list[int]:
    array = get(t.INPUT_IDS)
    if array is None:
        return []
    if array.ndim > 1 and array.shape[0] != 1:
        raise InvalidRequest("send one prompt per request (batch size 1); the engine batches requests itself")
    ids = array.reshape(-1)
    lengths = get(t.INPUT_LENGTHS)
    if lengths is not None:
        ids = ids[: int(lengths.reshape(-1)[0])]
    return [int(i) for i in ids]


def prompt(get: GetInput, *, images: bool = False) -> PromptInput:
    """The request's prompt: messages (+ tools, template variables; a vision model's images),
    else text_input, else input_ids."""
    messages, text = _text(get, t.MESSAGES), _text(get, t.TEXT_INPUT)
    array = get(t.IMAGES) if images else None
    encoded = () if array is None else tuple(bytes(v) for v in array.reshape(-1) if len(v))
    add_special_tokens = _scalar(get, t.ADD_SPECIAL_TOKENS)
    special = None if add_special_tokens is None else bool(add_special_tokens)
    if messages:
        generation_prompt = _scalar(get, t.ADD_GENERATION_PROMPT)
        return PromptInput(
            messages_json=messages,
            tools_json=_text(get, t.TOOLS) or None,
            template_kwargs_json=_text(get, t.CHAT_TEMPLATE_KWARGS) or None,
            add_generation_prompt=True if generation_prompt is None else bool(generation_prompt),
            continue_final_message=bool(_scalar(get, t.CONTINUE_FINAL_MESSAGE)),
            add_special_tokens=special,
            images=encoded,
        )
    if encoded:
        raise InvalidRequest(f"{t.IMAGES} need {t.MESSAGES} with as many image parts")
    if text:
        return PromptInput(text=text, add_special_tokens=special)
    ids = _prompt_ids(get)
    if ids:
        return PromptInput(token_ids=tuple(ids))
    raise InvalidRequest(f"send {t.MESSAGES}, {t.TEXT_INPUT} or {t.INPUT_IDS}")


def max_prompt_tokens(get: GetInput) -> int:
    """The request's limit on prompt tokens below the context (a server's; 0: none)."""
    return int(_scalar(get, t.MAX_PROMPT_TOKENS) or 0)


def lora(get: GetInput) -> tuple[str, str, bool]:
    """(LoRA adapter name, its folder, whether the request only unloads it); "" for the base model."""
    name, path, unload = _text(get, t.LORA_NAME), _text(get, t.LORA_PATH), bool(_scalar(get, t.LORA_UNLOAD))
    if (path or unload) and not name:
        raise InvalidRequest(f"{t.LORA_PATH} and {t.LORA_UNLOAD} need {t.LORA_NAME}")
    if name and not path and not unload:
        raise InvalidRequest(f"{t.LORA_NAME} needs {t.LORA_PATH} (the adapter's folder)")
    return name, path, unload


def echo_prompt(get: GetInput) -> bool:
    """TensorRT-LLM's exclude_input_in_output=false: the output starts with the prompt."""
    return _scalar(get, t.EXCLUDE_INPUT_IN_OUTPUT) is False


def _floats(get: GetInput, name: str) -> tuple[float, ...]:
    array = get(name)
    return () if array is None else tuple(float(v) for v in array.reshape(-1))


def _logit_bias(get: GetInput) -> dict[int, float]:
    ids, values = _ints(get, t.LOGIT_BIAS_TOKEN_IDS), _floats(get, t.LOGIT_BIAS_VALUES)
    if len(ids) != len(values):
        raise InvalidRequest(f"{t.LOGIT_BIAS_TOKEN_IDS} and {t.LOGIT_BIAS_VALUES} must have the same length")
    return dict(zip(ids, values, strict=True))


def sampling_params(get: GetInput, defaults: Mapping[str, Any] | None = None) -> tuple[SamplingParams, bool]:
    """(the request's SamplingParams, whether to stream). Absent tensors take the model's
    `defaults` (triton_openai.models.llm.generation_defaults; its max_tokens is a cap, not a demand), else
    SamplingParams' own."""
    values: dict[str, Any] = {}
    for name, field in (
        (t.MAX_TOKENS, "max_tokens"),
        (t.TEMPERATURE, "temperature"),
        (t.TOP_P, "top_p"),
        (t.TOP_K, "top_k"),
        (t.MIN_P, "min_p"),
        (t.SEED, "seed"),
        (t.FREQUENCY_PENALTY, "frequency_penalty"),
        (t.PRESENCE_PENALTY, "presence_penalty"),
        (t.REPETITION_PENALTY, "repetition_penalty"),
        (t.MIN_TOKENS, "min_tokens"),
        (t.IGNORE_EOS, "ignore_eos"),
        (t.INCLUDE_STOP_STR_IN_OUTPUT, "include_stop_str_in_output"),
        (t.SKIP_SPECIAL_TOKENS, "skip_special_tokens"),
    ):
        value = _scalar(get, name)
        if value is not None:
            values[field] = value
    for alias, field in ((t.MIN_LENGTH, "min_tokens"), (t.RANDOM_SEED, "seed")):
        value = _scalar(get, alias)
        if value is not None and field not in values:
            values[field] = value
    if values.get("max_tokens", 1) <= 0:  # TensorRT-LLM clients send 0 or -1 for "no limit"
        values.pop("max_tokens")
    if "temperature" in values:
        values["temperature"] = float(values["temperature"])
    if _scalar(get, t.RETURN_LOG_PROBS):
        values["logprobs"] = _scalar(get, t.TOP_LOGPROBS) or 0
    guide_type = _text(get, t.GUIDE_TYPE)
    if guide_type:
        values["guide_type"], values["guide"] = guide_type, _text(get, t.GUIDE)
    model_defaults = dict(defaults or {})
    default_cap = model_defaults.pop("max_tokens", None)
    params = SamplingParams(
        **{**model_defaults, **values},
        default_max_tokens=default_cap,
        stop=_strings(get, t.STOP_WORDS),
        stop_token_ids=_ints(get, t.STOP_TOKEN_IDS),
        logit_bias=_logit_bias(get),
    )
    params.validate()
    stream = bool(_scalar(get, t.STREAM) or False)
    return params, stream
