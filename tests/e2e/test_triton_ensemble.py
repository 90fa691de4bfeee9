"""The ensemble is a public Triton interface: tools made for TensorRT-LLM's ensemble
(genai-perf, perf_analyzer with its input format) drive it directly over gRPC."""

from __future__ import annotations

import asyncio

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.grpc import InferInput

from tests.e2e.conftest import MODEL


def tensor(name, values, dtype):
    array = np.array([values], dtype=object if dtype == "BYTES" else None)
    if dtype == "INT32":
        array = array.astype(np.int32)
    item = InferInput(name, list(array.shape), dtype)
    item.set_data_from_numpy(array)
    return item


async def stream(url, inputs):
    client = grpcclient.InferenceServerClient(url)

    async def requests():
        yield {"model_name": MODEL, "inputs": inputs, "request_id": "ensemble-test"}

    responses = []
    try:
        async for result, error in client.stream_infer(requests()):
            assert error is None, error
            responses.append(result)
            if result.as_numpy("finish_reason")[0][0]:
                break
    finally:
        await client.close()
    return responses


def genai_perf_inputs(prompt, exclude=True):
    # What genai-perf 0.0.16 sends with --backend tensorrtllm --endpoint-type kserve --streaming.
    return [
        tensor("text_input", [prompt.encode()], "BYTES"),
        tensor("max_tokens", [12], "INT32"),
        tensor("exclude_input_in_output", [exclude], "BOOL"),
        tensor("stream", [True], "BOOL"),
        tensor("ignore_eos", [True], "BOOL"),
        tensor("min_length", [12], "INT32"),
    ]


def text_of(responses):
    return "".join(r.as_numpy("text_output")[0][0].decode() for r in responses)


def test_streams_the_tensorrt_llm_input_format(server):
    responses = asyncio.run(stream(server.grpc_url, genai_perf_inputs("The capital of France is")))
    assert len(responses) > 3
    last = responses[-1]
    assert last.as_numpy("finish_reason")[0][0] == b"length"
    assert last.as_numpy("num_output_tokens")[0][0] == 12
    assert text_of(responses).strip()  # sampled (genai-perf sends no temperature)


def test_exclude_input_in_output_false_prefixes_the_prompt(server):
    responses = asyncio.run(stream(server.grpc_url, genai_perf_inputs("The capital of France is", exclude=False)))
    assert text_of(responses).startswith("The capital of France is")
