"""The frontend reads a response's tensors as Triton sends them over gRPC (raw contents, BYTES as
length-prefixed elements), in one pass, and a tensor an older model repository does not send
takes its default."""

from __future__ import annotations

import numpy as np
from tritonclient.grpc import InferResult, service_pb2
from tritonclient.utils import serialize_byte_tensor

from triton_openai import contract as t
from triton_openai.frontend.triton.tensors import unpack_chunk, unpack_tokenized


def response(**tensors) -> InferResult:
    message = service_pb2.ModelInferResponse(model_name="m_llm")
    for name, value in tensors.items():
        array = np.array(value)
        if array.dtype.kind in "US":
            array = np.array([v.encode() for v in np.atleast_1d(value)], dtype=np.object_)
            datatype, raw = "BYTES", serialize_byte_tensor(array).item()
        else:
            array = array.astype(np.int32)
            datatype, raw = "INT32", array.tobytes()
        shape = [1, *np.atleast_1d(array).shape]
        message.outputs.add(name=name, datatype=datatype, shape=shape)
        message.raw_output_contents.append(raw)
    return InferResult(message)


def test_a_chunk_reads_every_output():
    chunk = unpack_chunk(
        response(
            **{
                t.TEXT_OUTPUT: "Paris é",
                t.OUTPUT_IDS: [11, 12, 13],
                t.FINISH_REASON: "stop",
                t.NUM_INPUT_TOKENS: [31],
                t.NUM_OUTPUT_TOKENS: [7],
                t.NUM_CACHED_TOKENS: [16],
                t.STOP_REASON: "",
                t.STOP_TOKEN_ID: [2],
                t.LOGPROBS: '[{"token": "P", "logprob": -0.5}]',
                t.RENDERED_PROMPT: "<|im_start|>user",
            }
        )
    )
    assert chunk is not None
    assert (chunk.text, chunk.token_ids, chunk.finish_reason) == ("Paris é", [11, 12, 13], "stop")
    assert (chunk.num_input_tokens, chunk.num_output_tokens, chunk.num_cached_tokens) == (31, 7, 16)
    assert chunk.stop_reason == 2  # no stop string: the stop token id
    assert chunk.logprobs == [{"token": "P", "logprob": -0.5}]
    assert chunk.rendered_prompt == "<|im_start|>user"


def test_absent_outputs_take_their_defaults_and_an_empty_response_is_none():
    chunk = unpack_chunk(response(**{t.TEXT_OUTPUT: "", t.NUM_INPUT_TOKENS: [3], t.NUM_OUTPUT_TOKENS: [1]}))
    assert chunk is not None and chunk.text == "" and chunk.token_ids == []
    assert (chunk.finish_reason, chunk.stop_reason, chunk.rendered_prompt, chunk.num_cached_tokens) == (
        None,
        None,
        None,
        0,
    )
    assert unpack_chunk(response()) is None  # the final flag alone


def test_a_negative_token_id_and_a_stop_string():
    chunk = unpack_chunk(response(**{t.TEXT_OUTPUT: "x", t.STOP_REASON: "###", t.STOP_TOKEN_ID: [-1]}))
    assert chunk is not None and chunk.stop_reason == "###"


def test_tokenized_prompt_with_token_strings():
    tokenized = unpack_tokenized(
        response(**{t.INPUT_IDS: [5, 6], t.RENDERED_PROMPT: "hi there", t.TOKEN_STRS: ["hi", "Ġthere"]})
    )
    assert (tokenized.token_ids, tokenized.text, tokenized.token_strs) == ([5, 6], "hi there", ["hi", "Ġthere"])
