"""triton_openai.frontend.triton.tensors: jobs packed into Triton inputs, by the contract's table."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, triton_to_np_dtype

from triton_openai import contract as t
from triton_openai.frontend.triton import tensors
from triton_openai.frontend.triton.jobs import (
    ChatPrompt,
    EmbeddingJob,
    GenerationJob,
    Guide,
    ImageJob,
    LoraAdapter,
    Sampling,
    SpeechJob,
    TextPrompt,
    TokenizeJob,
    TranscriptionJob,
)


def unpacked(inputs) -> dict[str, np.ndarray]:
    """Each input's values, checked against the contract's type for its name."""
    values = {}
    for tensor in inputs:
        name, datatype = tensor.name(), tensor.datatype()
        assert datatype == ("BYTES" if t.TENSOR_TYPES[name] == t.STRING else t.TENSOR_TYPES[name])
        raw = tensor._get_content()
        if datatype == "BYTES":
            array = deserialize_bytes_tensor(raw)
        else:
            array = np.frombuffer(raw, dtype=triton_to_np_dtype(datatype))
        values[name] = array.reshape(tensor.shape())
    return values


def test_a_default_generation_sends_the_prompt_and_stream_only():
    inputs = unpacked(tensors.generation_inputs(GenerationJob([5, 6, 7])))
    assert set(inputs) == {t.INPUT_IDS, t.STREAM}
    assert inputs[t.INPUT_IDS].tolist() == [[5, 6, 7]]  # a batch of one
    assert inputs[t.STREAM].tolist() == [[True]]


NON_DEFAULT = {
    "max_tokens": 9,
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 3,
    "min_p": 0.1,
    "frequency_penalty": 0.2,
    "presence_penalty": -0.2,
    "repetition_penalty": 1.1,
    "min_tokens": 2,
    "ignore_eos": True,
    "stop": ("\n", "END"),
    "stop_token_ids": (2, 3),
    "include_stop_str_in_output": True,
    "skip_special_tokens": False,
    "logprobs": 4,
    "logit_bias": {17: -100.0, 5: 2.5},
    "seed": 2**64 - 1,
    "guide": Guide("json_schema", '{"type": "object"}'),
}


def test_every_sampling_field_reaches_its_tensors():
    assert set(NON_DEFAULT) == {f.name for f in dataclasses.fields(Sampling)}  # a new field needs a case here
    inputs = unpacked(tensors.generation_inputs(GenerationJob([1], Sampling(**NON_DEFAULT))))
    first = {name: array.reshape(-1).tolist() for name, array in inputs.items()}
    assert first == {
        t.INPUT_IDS: [1],
        t.STREAM: [True],
        t.MAX_TOKENS: [9],
        t.TEMPERATURE: [pytest.approx(0.5)],
        t.TOP_P: [pytest.approx(0.9)],
        t.TOP_K: [3],
        t.MIN_P: [pytest.approx(0.1)],
        t.FREQUENCY_PENALTY: [pytest.approx(0.2)],
        t.PRESENCE_PENALTY: [pytest.approx(-0.2)],
        t.REPETITION_PENALTY: [pytest.approx(1.1)],
        t.MIN_TOKENS: [2],
        t.IGNORE_EOS: [True],
        t.STOP_WORDS: [b"\n", b"END"],
        t.STOP_TOKEN_IDS: [2, 3],
        t.INCLUDE_STOP_STR_IN_OUTPUT: [True],
        t.SKIP_SPECIAL_TOKENS: [False],
        t.RETURN_LOG_PROBS: [True],
        t.TOP_LOGPROBS: [4],
        t.LOGIT_BIAS_TOKEN_IDS: [17, 5],
        t.LOGIT_BIAS_VALUES: [-100.0, 2.5],
        t.SEED: [2**64 - 1],
        t.GUIDE_TYPE: [b"json_schema"],
        t.GUIDE: [b'{"type": "object"}'],
    }
    assert all(name in t.GENERATION_PARAMETERS or name == t.INPUT_IDS for name in first)


def test_the_servers_prompt_limit_travels_with_the_job():
    inputs = unpacked(tensors.generation_inputs(GenerationJob(TextPrompt("hi"), max_prompt_tokens=60)))
    assert inputs[t.MAX_PROMPT_TOKENS].tolist() == [[60]]
    assert t.MAX_PROMPT_TOKENS not in unpacked(tensors.generation_inputs(GenerationJob(TextPrompt("hi"))))


def test_logprobs_zero_asks_for_the_chosen_tokens_only_and_an_empty_guide_travels():
    sampling = Sampling(logprobs=0, guide=Guide("json_object"))
    inputs = unpacked(tensors.generation_inputs(GenerationJob([1], sampling)))
    assert inputs[t.RETURN_LOG_PROBS].tolist() == [[True]] and t.TOP_LOGPROBS not in inputs
    assert inputs[t.GUIDE_TYPE].tolist() == [[b"json_object"]] and inputs[t.GUIDE].tolist() == [[b""]]


def test_a_lora_adapter_goes_by_name_and_folder():
    inputs = unpacked(tensors.generation_inputs(GenerationJob([1], lora=LoraAdapter("sql", "/adapters/sql"))))
    assert (inputs[t.LORA_NAME].tolist(), inputs[t.LORA_PATH].tolist()) == ([[b"sql"]], [[b"/adapters/sql"]])
    unload = unpacked(tensors.lora_unload_inputs("sql"))
    assert unload[t.LORA_UNLOAD].tolist() == [[True]] and unload[t.INPUT_IDS].tolist() == [[0]]


def test_a_model_that_tokenizes_itself_gets_the_chat_prompt_and_its_images():
    prompt = ChatPrompt(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "caf\u00e9?"}]}],
        tools=[{"type": "function", "function": {"name": "f"}}],
        template_kwargs={"enable_thinking": False},
        images=[b"\x89PNG one"],
    )
    inputs = unpacked(tensors.generation_inputs(GenerationJob(prompt, Sampling(max_tokens=3))))
    assert set(inputs) == {t.MESSAGES, t.TOOLS, t.CHAT_TEMPLATE_KWARGS, t.IMAGES, t.MAX_TOKENS, t.STREAM}
    messages = inputs[t.MESSAGES].reshape(-1)[0].decode("utf-8")
    assert "caf\u00e9" in messages and json.loads(messages) == list(prompt.messages)  # UTF-8, not \\u escapes
    assert json.loads(inputs[t.TOOLS].reshape(-1)[0]) == list(prompt.tools)
    assert json.loads(inputs[t.CHAT_TEMPLATE_KWARGS].reshape(-1)[0]) == {"enable_thinking": False}
    assert inputs[t.IMAGES].tolist() == [[b"\x89PNG one"]]
    text = unpacked(tensors.generation_inputs(GenerationJob(TextPrompt("hi"))))
    assert text[t.TEXT_INPUT].tolist() == [[b"hi"]] and t.INPUT_IDS not in text


def test_tokenize_jobs_send_only_what_differs_from_the_tokenizers_defaults():
    chat = ChatPrompt([{"role": "user", "content": "hi"}], images=[b"img"])
    plain = unpacked(tensors.tokenize_inputs(TokenizeJob(chat)))
    assert set(plain) == {t.MESSAGES}  # no tools, no variables; images never go to a tokenizer
    asked = TokenizeJob(
        TextPrompt("hi"), add_special_tokens=False, add_generation_prompt=False, continue_final_message=True,
        return_token_strs=True,
    )  # fmt: skip
    values = {name: array.reshape(-1).tolist() for name, array in unpacked(tensors.tokenize_inputs(asked)).items()}
    assert values == {
        t.TEXT_INPUT: [b"hi"],
        t.ADD_SPECIAL_TOKENS: [False],
        t.ADD_GENERATION_PROMPT: [False],
        t.CONTINUE_FINAL_MESSAGE: [True],
        t.RETURN_TOKEN_STRS: [True],
    }
    assert unpacked(tensors.detokenize_inputs([3, 4]))[t.OUTPUT_IDS].tolist() == [[3, 4]]


def test_every_field_of_an_unbatched_job_has_its_tensor():
    for job, fields in tensors._UNBATCHED_FIELDS.items():
        assert set(fields) == {f.name for f in dataclasses.fields(job)}


def test_unbatched_models_get_shape_one_inputs():
    speech = unpacked(tensors.unbatched_inputs(SpeechJob("Hello.", "joe", "wav", 1.5)))
    assert {name: array.tolist() for name, array in speech.items()} == {
        t.TEXT_INPUT: [b"Hello."],
        t.VOICE: [b"joe"],
        t.RESPONSE_FORMAT: [b"wav"],
        t.SPEED: [1.5],
    }
    audio = unpacked(tensors.unbatched_inputs(TranscriptionJob(b"RIFF", language="de", word_timestamps=True)))
    assert {name: array.tolist() for name, array in audio.items()} == {
        t.AUDIO: [b"RIFF"],
        t.TASK: [b"transcribe"],
        t.LANGUAGE: [b"de"],
        t.WORD_TIMESTAMPS: [True],
    }
    image = unpacked(tensors.unbatched_inputs(ImageJob("a cat", 512, 256, n=2, steps=4, seed=7)))
    assert {name: array.tolist() for name, array in image.items()} == {
        t.TEXT_INPUT: [b"a cat"],
        t.WIDTH: [512],
        t.HEIGHT: [256],
        t.NUM_IMAGES: [2],
        t.NUM_INFERENCE_STEPS: [4],
        t.SEED: [7],
        t.OUTPUT_FORMAT: [b"png"],
    }


def test_embedding_rows_are_a_batch_texts_or_padded_ids():
    texts = unpacked(tensors.embedding_inputs(EmbeddingJob(["a", "bc"], truncate_prompt_tokens=-1)))
    assert texts[t.TEXT_INPUT].tolist() == [[b"a"], [b"bc"]]
    assert texts[t.TRUNCATE_PROMPT_TOKENS].tolist() == [[-1], [-1]] and t.DIMENSIONS not in texts
    ids = unpacked(tensors.embedding_inputs(EmbeddingJob([[1, 2, 3], [4]], dimensions=8)))
    assert ids[t.INPUT_IDS].tolist() == [[1, 2, 3], [4, 0, 0]] and ids[t.INPUT_LENGTHS].tolist() == [[3], [1]]
    assert ids[t.DIMENSIONS].tolist() == [[8], [8]]
