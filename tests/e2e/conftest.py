"""The real stack for end-to-end tests: `triton-openai serve` in a subprocess.

It starts tritonserver (from the nvidia-pytriton wheel) with the default model, and the
frontend on a free port. Tests call it through the official openai package.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.server_process import ServerProcess

MODEL = "smollm2-135m-instruct"


# Servers started for one test need only the LLM: leaving the others out starts them faster.
LLM_ONLY = ("--embedding-model", "none", "--transcription-model", "none", "--speech-voice", "none")


def wait_for(predicate, timeout=20.0) -> bool:
    """Whether `predicate()` came true within the timeout (engine metrics, for one, are
    published at the end of the engine's step, just after the responses went out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def start_server(tmp: Path, *extra: str, llm_only: bool = True) -> ServerProcess:
    return ServerProcess.start(tmp, *(LLM_ONLY if llm_only else ()), *extra)


@pytest.fixture(scope="session")
def server(tmp_path_factory, prepared_model):
    """Every model of the default deployment: the LLM, embeddings, Whisper and the piper voice."""
    running = start_server(tmp_path_factory.mktemp("server"), "--max-num-seqs", "8", llm_only=False)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def http(server) -> httpx.Client:
    with httpx.Client(base_url=server.base_url, timeout=120) as session:
        yield session
