"""Body limits (JSON sized from the served models) and prompt limits (a character bound, then tokens)."""

import pytest

from triton_openai import contract as t
from triton_openai.frontend import errors
from triton_openai.frontend.limits import JsonBodyLimit
from triton_openai.frontend.serving.prompt_limits import PromptLimit
from triton_openai.frontend.triton.base import ServedModel


def llm(context=8192, per_token="81", images=False):
    parameters = {t.PARAM_MAX_CHARS_PER_TOKEN: per_token}
    if images:
        parameters[t.PARAM_INPUT_MODALITIES] = "text,image"
    return ServedModel("m", t.KIND_LLM, 0, max_model_len=context, parameters=parameters)


def test_the_json_limit_is_sized_from_the_largest_context_and_images():
    limit = JsonBodyLimit(0, max_images=2, max_image_bytes=3_000)
    before = limit()  # no models listed yet: a generous fixed size
    limit.models = lambda: [llm(), llm(context=1024)]
    text_only = limit()
    assert text_only == 8192 * 81 * 6 + 1024 * 1024 < before
    limit.models = lambda: [llm(), llm(context=16, images=True)]
    assert limit() == text_only + 2 * 3_000 * 4 // 3 + 8
    assert JsonBodyLimit(1234, 2, 3_000)() == 1234  # --max-json-bytes


def test_a_prompt_over_the_character_bound_is_refused_before_tokenizing():
    model = llm(context=100, per_token="4")
    PromptLimit.of(model, 0).check_characters(model, 400)
    with pytest.raises(
        errors.InvalidRequest, match="maximum context length is 100 tokens; the prompt has 401 characters"
    ):
        PromptLimit.of(model, 0).check_characters(model, 401)
    with pytest.raises(errors.InvalidRequest, match="at most 10 prompt tokens"):
        PromptLimit.of(model, 10).check_characters(model, 41)
    unknown = llm(per_token="0")
    PromptLimit.of(unknown, 0).check_characters(unknown, 10**9)  # no bound known: tokenized, then counted


def test_the_server_limit_rides_on_the_job_and_the_engine_refuses_a_longer_prompt():
    from triton_openai.frontend.triton.client import _from_message
    from triton_openai.models.llm.params import ContextLengthExceeded, SamplingParams
    from triton_openai.models.llm.request import GenerationRequest

    def request(tokens, limit):
        return GenerationRequest("r", [1] * tokens, SamplingParams(), lambda _: None, max_prompt_tokens=limit)

    request(60, 60).check_prompt_limit()
    request(10**4, 0).check_prompt_limit()  # no server limit: the context is the engine's to check
    with pytest.raises(ContextLengthExceeded, match="the prompt has 61 tokens; this server takes at most 60"):
        request(61, 60).check_prompt_limit()
    error = _from_message(t.tag_error(t.CONTEXT_LENGTH_TAG, "the prompt has 61 tokens"))
    assert isinstance(error, errors.InvalidRequest) and error.code == "context_length_exceeded"
    assert error.message == "the prompt has 61 tokens"
