"""Limits, worker processes, draining on shutdown, and Triton going away and coming back."""

import concurrent.futures
import json
import signal
import time

import httpx
import openai
import pytest

from tests.e2e.conftest import MODEL, start_server
from tests.e2e.test_lifecycle import descendants
from triton_openai.launch.tritonserver import free_port

USER = [{"role": "user", "content": "Tell me a long story about the sea."}]


@pytest.fixture(scope="module")
def hardened(tmp_path_factory, prepared_model):
    running = start_server(
        tmp_path_factory.mktemp("hardened"),
        "--workers", "2", "--max-request-bytes", "200000", "--request-timeout", "1.5",
        "--max-prompt-tokens", "60", "--max-file-bytes", "100000",
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="module")
def hclient(hardened):
    return openai.OpenAI(base_url=hardened.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=60)


def test_bodies_over_the_limit_get_413(hardened):
    big = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 300_000}]}
    response = httpx.post(hardened.base_url + "/v1/chat/completions", json=big, timeout=30)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"

    def chunked():
        for _ in range(30):
            yield b"x" * 10_000

    response = httpx.post(
        hardened.base_url + "/v1/chat/completions", content=chunked(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_prompts_over_max_prompt_tokens_get_400_with_the_limit(hclient):
    with pytest.raises(openai.BadRequestError, match="at most 60 prompt tokens") as info:
        hclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 100}])
    assert info.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError, match="at most 60 prompt tokens"):  # completions too
        hclient.completions.create(model=MODEL, prompt="word " * 100, max_tokens=2)
    assert hclient.completions.create(model=MODEL, prompt="word " * 10, max_tokens=2).choices[0].text is not None


def test_slow_requests_time_out_with_504_and_free_the_engine(hclient, hardened):
    with pytest.raises(openai.APIStatusError) as info:
        hclient.chat.completions.create(model=MODEL, messages=USER, max_tokens=400, extra_body={"ignore_eos": True})
    assert info.value.status_code == 504 and info.value.body["code"] == "timeout"
    deadline = time.monotonic() + 10
    while hardened.metric("llm_engine_requests_running") > 0:
        assert time.monotonic() < deadline, "the timed-out request kept running"
        time.sleep(0.2)


def test_two_workers_share_one_triton_and_one_files_store(hardened):
    frontend = hardened.process.pid
    workers = [pid for pid, command in descendants(frontend).items() if "multiprocessing" in command]
    assert len(workers) >= 2
    stored = httpx.post(
        hardened.base_url + "/v1/files", files={"file": ("a.txt", b"shared")}, data={"purpose": "user_data"}
    ).json()

    def fetch(_):  # a new connection each time: any worker may answer
        return httpx.get(hardened.base_url + f"/v1/files/{stored['id']}/content").content

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(fetch, range(24))) == {b"shared"}


def test_shutdown_drains_a_stream_in_flight(hardened):
    body = {"model": MODEL, "messages": USER, "max_tokens": 24, "stream": True, "extra_body": None}
    body.pop("extra_body")
    events = []
    with httpx.stream("POST", hardened.base_url + "/v1/chat/completions", json=body, timeout=60) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(line[6:])
            if len(events) == 2:
                hardened.process.send_signal(signal.SIGTERM)
    assert events[-1] == "[DONE]"
    finishes = [c["finish_reason"] for e in events[:-1] for c in json.loads(e)["choices"]]
    assert finishes[-1] in ("length", "stop")
    assert hardened.process.wait(60) == 0


def test_triton_restart_gives_503_with_retry_after_then_recovers(tmp_path, prepared_model):
    grpc_port = free_port()
    triton_args = ("--triton-grpc-port", str(grpc_port))
    backend = start_server(tmp_path / "backend", *triton_args)
    frontend = start_server(tmp_path / "frontend", "--triton-url", f"127.0.0.1:{grpc_port}")
    client = openai.OpenAI(base_url=frontend.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=30)
    try:
        assert client.models.list().data
        backend.stop()
        chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}
        response = httpx.post(frontend.base_url + "/v1/chat/completions", json=chat, timeout=30)
        assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
        assert response.json()["error"]["code"] == "backend_unavailable"
        assert httpx.get(frontend.base_url + "/health", timeout=30).status_code == 503
        backend = start_server(tmp_path / "backend-again", *triton_args)
        started = time.monotonic()
        while True:  # as a client honouring Retry-After would
            response = httpx.post(frontend.base_url + "/v1/chat/completions", json=chat, timeout=30)
            if response.status_code == 200 or time.monotonic() - started > 10:
                break
            time.sleep(0.25)
        assert response.status_code == 200, response.text
        assert response.json()["usage"]["completion_tokens"] >= 1
        assert time.monotonic() - started < 5  # reconnected by itself, within seconds
    finally:
        frontend.stop()
        backend.stop()
