"""The stack on an NVIDIA GPU: the torch engine on CUDA, and the TensorRT-LLM engine.

Skipped (never faked) where there is no CUDA GPU, or no tensorrt_llm package for the
TensorRT-LLM test; run them on a GPU machine (the Dockerfile.triton image has both).
"""

from __future__ import annotations

import json

import openai
import pytest
import torch

from tests.e2e.conftest import MODEL, start_server

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
]


def exercise(server) -> None:
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=300)
    ask = [{"role": "user", "content": "Name three colours."}]
    reply = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=16, temperature=0)
    again = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=16, temperature=0)
    assert reply.choices[0].message.content and reply.choices[0].message.content == again.choices[0].message.content
    streamed = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=16, temperature=0, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == reply.choices[0].message.content
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    guided = client.chat.completions.create(
        model=MODEL,
        messages=ask,
        max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    assert "colour" in json.loads(guided.choices[0].message.content)


def test_torch_engine_on_cuda(tmp_path, prepared_model):
    server = start_server(tmp_path, "--device", "cuda")
    try:
        exercise(server)
    finally:
        server.stop()


def test_tensorrt_llm_engine(tmp_path, prepared_model):
    pytest.importorskip("tensorrt_llm", reason="TensorRT-LLM is not installed")
    server = start_server(tmp_path, "--engine", "tensorrt_llm")
    try:
        exercise(server)
    finally:
        server.stop()
