import numpy as np
import pytest

from triton_openai import contract as t
from triton_openai.models.llm import request_inputs
from triton_openai.models.llm.params import InvalidRequest, SamplingParams


def getter(values):
    return lambda name: values.get(name)


def test_defaults_when_nothing_is_sent():
    params, stream = request_inputs.sampling_params(getter({}))
    assert params.max_tokens is None and params.temperature == 1.0 and params.stop == ()
    assert stream is False


def test_values_are_read_from_batched_tensors():
    params, stream = request_inputs.sampling_params(
        getter(
            {
                t.MAX_TOKENS: np.array([[12]], dtype=np.int32),
                t.TEMPERATURE: np.array([[0.5]], dtype=np.float32),
                t.SEED: np.array([[2**63 + 5]], dtype=np.uint64),
                t.STOP_WORDS: np.array([[b"\n", "ünï".encode(), b""]], dtype=object),
                t.STREAM: np.array([[True]]),
                t.IGNORE_EOS: np.array([[True]]),
            }
        )
    )
    assert (params.max_tokens, params.temperature, params.seed) == (12, 0.5, 2**63 + 5)
    assert params.stop == ("\n", "ünï") and params.ignore_eos and stream


def test_non_positive_max_tokens_means_no_limit():
    params, _ = request_inputs.sampling_params(getter({t.MAX_TOKENS: np.array([[-1]], dtype=np.int32)}))
    assert params.max_tokens is None


def test_out_of_range_values_are_rejected():
    with pytest.raises(InvalidRequest, match="repetition_penalty"):
        request_inputs.sampling_params(getter({t.REPETITION_PENALTY: np.array([[0.0]], dtype=np.float32)}))


def test_prompt_ids_honour_lengths_and_reject_batches():
    ids = np.array([[5, 6, 7, 0]], dtype=np.int32)
    prompt = request_inputs.prompt(getter({t.INPUT_IDS: ids, t.INPUT_LENGTHS: np.array([[3]])}))
    assert prompt.token_ids == (5, 6, 7)
    with pytest.raises(InvalidRequest, match="batch size 1"):
        request_inputs.prompt(getter({t.INPUT_IDS: np.zeros((2, 3), dtype=np.int32)}))


def test_tensorrt_llm_names_are_aliases():
    params, _ = request_inputs.sampling_params(
        getter({t.MIN_LENGTH: np.array([[4]], dtype=np.int32), t.RANDOM_SEED: np.array([[9]], dtype=np.uint64)})
    )
    assert (params.min_tokens, params.seed) == (4, 9)
    both, _ = request_inputs.sampling_params(
        getter({t.MIN_LENGTH: np.array([[4]], dtype=np.int32), t.MIN_TOKENS: np.array([[2]], dtype=np.int32)})
    )
    assert both.min_tokens == 2  # our own name wins


def test_echo_prompt_only_when_exclude_is_false():
    assert request_inputs.echo_prompt(getter({t.EXCLUDE_INPUT_IN_OUTPUT: np.array([[False]])}))
    assert not request_inputs.echo_prompt(getter({t.EXCLUDE_INPUT_IN_OUTPUT: np.array([[True]])}))
    assert not request_inputs.echo_prompt(getter({}))


def test_guide_and_logprobs():
    params, _ = request_inputs.sampling_params(
        getter(
            {
                t.GUIDE_TYPE: np.array([[b"json_schema"]], dtype=object),
                t.GUIDE: np.array([[b'{"type": "object"}']], dtype=object),
                t.RETURN_LOG_PROBS: np.array([[True]]),
                t.TOP_LOGPROBS: np.array([[3]], dtype=np.int32),
            }
        )
    )
    assert (params.guide_type, params.guide, params.logprobs) == ("json_schema", '{"type": "object"}', 3)
    plain, _ = request_inputs.sampling_params(getter({t.RETURN_LOG_PROBS: np.array([[True]])}))
    assert plain.logprobs == 0 and plain.guide_type == ""


def test_a_prompt_is_messages_with_their_options_or_a_text_or_ids():
    def vision_prompt(get):
        return request_inputs.prompt(get, images=True)

    def getter(values):
        return lambda name: values.get(name)

    def strings(*items):
        return np.array([list(items)], dtype=np.object_)

    images = strings(b"\x89PNG one", b"\x89PNG two")
    prompt = vision_prompt(getter({"messages": strings(b'[{"role": "user"}]'), "images": images}))
    assert prompt.messages_json == '[{"role": "user"}]' and prompt.images == (b"\x89PNG one", b"\x89PNG two")
    assert vision_prompt(getter({"text_input": strings(b"Once")})).text == "Once"
    ids = {"input_ids": np.array([[5, 6, 7]], dtype=np.int32)}
    assert vision_prompt(getter(ids)).token_ids == (5, 6, 7)
    with pytest.raises(InvalidRequest, match="images need messages"):
        vision_prompt(getter({"text_input": strings(b"Once"), "images": images}))
    with pytest.raises(InvalidRequest, match="send messages"):
        vision_prompt(getter({}))
    chat = request_inputs.prompt(
        getter(
            {
                "messages": strings(b'[{"role": "user"}]'),
                "images": images,  # a text model reads no images
                "chat_template_kwargs": strings(b'{"enable_thinking": false}'),
                "add_generation_prompt": np.array([[False]]),
                "continue_final_message": np.array([[True]]),
            }
        )
    )
    assert (chat.images, chat.template_kwargs_json) == ((), '{"enable_thinking": false}')
    assert (chat.add_generation_prompt, chat.continue_final_message, chat.special_tokens) == (False, True, False)
    text = request_inputs.prompt(getter({"text_input": strings(b"Once"), "add_special_tokens": np.array([[False]])}))
    assert not text.special_tokens and request_inputs.prompt(getter({"text_input": strings(b"Once")})).special_tokens
    assert request_inputs.max_prompt_tokens(getter({"max_prompt_tokens": np.array([[60]], dtype=np.int32)})) == 60
    assert request_inputs.max_prompt_tokens(getter({})) == 0


def test_model_defaults_apply_where_the_request_sets_nothing():
    defaults = {"temperature": 0.2, "top_p": 0.9, "max_tokens": 256}
    params, _ = request_inputs.sampling_params(getter({}), defaults)
    assert (params.temperature, params.top_p, params.max_tokens, params.default_max_tokens) == (0.2, 0.9, None, 256)
    asked, _ = request_inputs.sampling_params(
        getter({t.TEMPERATURE: np.array([[0.0]], dtype=np.float32), t.MAX_TOKENS: np.array([[9]], dtype=np.int32)}),
        defaults,
    )
    assert (asked.temperature, asked.top_p, asked.max_tokens) == (0.0, 0.9, 9)


def test_a_default_cap_fits_the_room_and_min_tokens():
    assert SamplingParams(default_max_tokens=256).output_limit(room=100) == 100
    assert SamplingParams(default_max_tokens=16).output_limit(room=100) == 16
    assert SamplingParams(default_max_tokens=16, min_tokens=40).output_limit(room=100) == 40
    assert SamplingParams(max_tokens=50, default_max_tokens=16).output_limit(room=100) == 50
    assert SamplingParams().output_limit(room=100) == 100


def test_logit_bias_travels_as_two_lists():
    ids, values = np.array([[5, 7]], dtype=np.int32), np.array([[2.5, -100.0]], dtype=np.float32)
    params, _ = request_inputs.sampling_params(getter({t.LOGIT_BIAS_TOKEN_IDS: ids, t.LOGIT_BIAS_VALUES: values}))
    assert params.logit_bias == {5: 2.5, 7: -100.0}
    with pytest.raises(InvalidRequest, match="same length"):
        request_inputs.sampling_params(getter({t.LOGIT_BIAS_TOKEN_IDS: ids}))
    with pytest.raises(InvalidRequest, match="logit_bias"):
        request_inputs.sampling_params(
            getter({t.LOGIT_BIAS_TOKEN_IDS: ids[:, :1], t.LOGIT_BIAS_VALUES: np.array([[101.0]], dtype=np.float32)})
        )
