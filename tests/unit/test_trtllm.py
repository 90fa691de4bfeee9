"""The TensorRT-LLM path on CPU: parameter mapping, output deltas, build and runtime
arguments, config rendering. TensorRT-LLM itself is not installed here; the engine on a
GPU is exercised by tests/e2e/test_trtllm_gpu.py where it is."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.test_contract import parse
from triton_openai.models.llm.params import InvalidRequest, SamplingParams
from triton_openai.models.llm.request import FINISH_LENGTH
from triton_openai.models.llm.trtllm_engine import (
    OutputDeltas,
    _LoRAs,
    embedding_bias,
    guided_kwargs,
    sampling_kwargs,
    tensorrt_engine_llm,
)
from triton_openai.repository.prepare import PreparedModel
from triton_openai.repository.render import LLMDeployment, render_repository
from triton_openai.repository.trtllm import TrtllmOptions, build_args, engine_dir, runtime_args


def test_greedy_is_top_k_one_and_defaults_stay_unset():
    kwargs = sampling_kwargs(SamplingParams(temperature=0.0, max_tokens=10), prompt_len=5, max_model_len=100)
    assert kwargs["top_k"] == 1 and "temperature" not in kwargs and kwargs["max_tokens"] == 10
    assert {"top_p", "min_p", "frequency_penalty", "repetition_penalty", "stop", "logprobs"}.isdisjoint(kwargs)


def test_sampling_parameters_map_by_name():
    params = SamplingParams(
        temperature=0.7,
        top_p=0.9,
        top_k=40,
        min_p=0.05,
        seed=3,
        presence_penalty=0.5,
        repetition_penalty=1.1,
        min_tokens=2,
        stop=("END",),
        stop_token_ids=(7,),
        include_stop_str_in_output=True,
        logprobs=2,
    )
    kwargs = sampling_kwargs(params, prompt_len=5, max_model_len=100)
    assert kwargs == {
        "max_tokens": 95,  # none asked: up to the context window
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 40,
        "min_p": 0.05,
        "seed": 3,
        "presence_penalty": 0.5,
        "repetition_penalty": 1.1,
        "min_tokens": 2,
        "ignore_eos": False,
        "stop": ["END"],
        "stop_token_ids": [7],
        "include_stop_str_in_output": True,
        "skip_special_tokens": True,
        "logprobs": 2,
        "detokenize": True,
    }


def test_sampling_always_sends_top_p():
    # TensorRT-LLM decodes greedily when neither top_k nor top_p is set, whatever the temperature.
    kwargs = sampling_kwargs(SamplingParams(temperature=0.8), prompt_len=5, max_model_len=100)
    assert kwargs["temperature"] == 0.8 and kwargs["top_p"] == 1.0 and "top_k" not in kwargs


def test_logprobs_without_alternatives_still_ask_for_one():
    kwargs = sampling_kwargs(SamplingParams(temperature=0.0, logprobs=0), prompt_len=5, max_model_len=100)
    assert kwargs["logprobs"] == 1  # TensorRT-LLM returns none for 0
    entries = [{10: SimpleNamespace(logprob=-0.1, rank=1), 3: SimpleNamespace(logprob=-2.5, rank=2)}]
    output = OutputDeltas(1, top_logprobs=0).step(completion("a", [10], "stop", entries), finished=True)
    assert output.logprobs[0].logprob == pytest.approx(-0.1) and output.logprobs[0].top == ()


def test_over_the_context_is_refused_and_a_default_cap_is_cut_to_the_room():
    with pytest.raises(InvalidRequest, match="maximum context length is 100"):
        sampling_kwargs(SamplingParams(max_tokens=96), prompt_len=5, max_model_len=100)
    capped = sampling_kwargs(SamplingParams(default_max_tokens=256), prompt_len=5, max_model_len=100)
    assert capped["max_tokens"] == 95  # a model's default is no demand: it fits what is left


def test_logit_bias_becomes_a_dense_embedding_bias():
    assert embedding_bias({}, 8) is None
    assert embedding_bias({1: 5.0, 6: -100.0}, 8) == [0.0, 5.0, 0.0, 0.0, 0.0, 0.0, -100.0, 0.0]
    with pytest.raises(InvalidRequest, match="outside the vocabulary"):
        SamplingParams(logit_bias={8: 1.0}).check_vocabulary(8)


def test_guides_map_onto_guided_decoding_params():
    schema = '{"type": "object"}'
    assert guided_kwargs("", "") is None
    assert guided_kwargs("json_schema", schema) == {"json": schema}
    assert guided_kwargs("json", "") == {"json_object": True}
    assert guided_kwargs("regex", "[a-z]+") == {"regex": "[a-z]+"}
    assert guided_kwargs("grammar", "root ::= 'a'") == {"grammar": "root ::= 'a'"}
    assert guided_kwargs("choice", json.dumps(["a.b", "c"])) == {"regex": r"(a\.b|c)"}
    with pytest.raises(InvalidRequest, match="lark"):
        guided_kwargs("lark", "start: 'a'")


def completion(text, ids, finish=None, logprobs=None):
    """A stand-in for tensorrt_llm's CompletionOutput (cumulative text and tokens)."""
    return SimpleNamespace(text=text, token_ids=ids, finish_reason=finish, stop_reason=None, logprobs=logprobs)


def test_cumulative_outputs_become_deltas():
    deltas = OutputDeltas(num_prompt_tokens=4)
    first = deltas.step(completion("Hel", [10]), finished=False)
    second = deltas.step(completion("Hello there", [10, 11, 12], "stop"), finished=True)
    assert (first.text, first.token_ids, first.finish_reason) == ("Hel", [10], None)
    assert (second.text, second.token_ids, second.num_output_tokens) == ("lo there", [11, 12], 3)
    assert second.finish_reason == "stop" and second.num_prompt_tokens == 4
    ended = OutputDeltas(1).step(completion("x", [1], None), finished=True)
    assert ended.finish_reason == FINISH_LENGTH


def test_logprobs_keep_the_chosen_token_and_alternatives():
    entries = [{10: SimpleNamespace(logprob=-0.1, rank=1), 3: SimpleNamespace(logprob=-2.5, rank=2)}]
    output = OutputDeltas(1, top_logprobs=2).step(completion("a", [10], "stop", entries), finished=True)
    assert output.logprobs[0].token_id == 10 and output.logprobs[0].logprob == pytest.approx(-0.1)
    assert [i for i, _ in output.logprobs[0].top] == [10, 3]
    # the chosen token outside the top 1 is reported, but not as an alternative
    outside = [{10: SimpleNamespace(logprob=-3.0, rank=2), 3: SimpleNamespace(logprob=-0.2, rank=1)}]
    output = OutputDeltas(1, top_logprobs=1).step(completion("a", [10], "stop", outside), finished=True)
    assert output.logprobs[0].logprob == pytest.approx(-3.0) and [i for i, _ in output.logprobs[0].top] == [3]


def test_lora_names_get_stable_task_ids():
    loras, made = _LoRAs(), []

    def request(name, int_id, path):
        made.append((name, int_id, path))
        return made[-1]

    assert loras.request("a", "/x/a", request) == ("a", 1, "/x/a")
    assert loras.request("b", "/x/b", request) == ("b", 2, "/x/b")
    assert loras.request("a", "/x/a", request) == ("a", 1, "/x/a")
    assert loras.request("a", "/y/a", request) == ("a", 3, "/y/a")  # another folder: another task
    assert loras.unload("a") and not loras.unload("a")


def test_build_and_runtime_arguments():
    options = TrtllmOptions(max_batch_size=16, dtype="bfloat16", tensor_parallel_size=2, max_loras=4)
    args = build_args("/m", options, context_length=2048)
    assert args["model"] == "/m" and args["tensor_parallel_size"] == 2 and args["dtype"] == "bfloat16"
    assert args["build_config"] == {
        "max_batch_size": 16,
        "max_input_len": 2048,
        "max_seq_len": 2048,
        "plugin_config": {"paged_kv_cache": True},
    }
    assert args["enable_lora"] and args["lora_config"]["max_loras"] == 4
    assert runtime_args(TrtllmOptions())["kv_cache_config"] == {"free_gpu_memory_fraction": 0.9}
    assert runtime_args(TrtllmOptions())["guided_decoding_backend"] == "xgrammar"  # else guides are not enforced
    with pytest.raises(ValueError, match="dtype"):
        build_args("/m", TrtllmOptions(dtype="int3"), 10)


def test_engines_are_cached_by_weights_options_and_version(tmp_path):
    key = engine_dir(tmp_path, "w1", TrtllmOptions(), "1.0")
    assert key == engine_dir(tmp_path, "w1", TrtllmOptions(), "1.0")
    assert (
        len(
            {
                key,
                engine_dir(tmp_path, "w2", TrtllmOptions(), "1.0"),
                engine_dir(tmp_path, "w1", TrtllmOptions(max_batch_size=8), "1.0"),
                engine_dir(tmp_path, "w1", TrtllmOptions(), "1.1"),
            }
        )
        == 4
    )


def test_the_engine_choice_is_rendered_into_the_llm_config(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    model = PreparedModel("tiny", folder, "key")
    deployment = LLMDeployment(
        model, engine="tensorrt_llm", engine_dir="/cache/engine", trtllm=TrtllmOptions(max_loras=2)
    )
    out = render_repository([deployment], tmp_path / "repo")
    params = {
        k: v.string_value for k, v in parse(Path(out / "tiny_llm" / "config.pbtxt").read_text()).parameters.items()
    }
    assert params["engine"] == "tensorrt_llm" and params["engine_dir"] == "/cache/engine"
    assert json.loads(params["trtllm_args"])["lora_config"]["max_loras"] == 2


def test_the_tensorrt_engine_llm_class_is_taken_where_it_moved(monkeypatch):
    """Since TensorRT-LLM 1.0 `tensorrt_llm.LLM` is the PyTorch backend; engines need
    `tensorrt_llm._tensorrt_engine.LLM`. Module doubles stand in for the two layouts."""
    package = types.ModuleType("tensorrt_llm")
    package.LLM = "pytorch LLM"
    monkeypatch.setitem(sys.modules, "tensorrt_llm", package)
    monkeypatch.setitem(sys.modules, "tensorrt_llm._tensorrt_engine", None)  # an older release
    assert tensorrt_engine_llm() == "pytorch LLM"
    engines = types.ModuleType("tensorrt_llm._tensorrt_engine")
    engines.LLM = "TensorRT engine LLM"
    monkeypatch.setitem(sys.modules, "tensorrt_llm._tensorrt_engine", engines)
    assert tensorrt_engine_llm() == "TensorRT engine LLM"
