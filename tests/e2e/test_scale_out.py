"""One frontend over two Triton servers: requests spread over both, and when one dies the
frontend serves on through the other (its health check marks the dead one unavailable)."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import openai

from tests.e2e.conftest import MODEL, start_server, wait_for

LLM = f'model="{MODEL}_llm"'
ASK = {"model": MODEL, "messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 4}


def finished(server) -> float:
    return server.metric("llm_engine_requests_finished_total", LLM)


def test_requests_spread_over_two_tritons_and_survive_one_dying(tmp_path, prepared_model):
    first, second = start_server(tmp_path / "a"), start_server(tmp_path / "b")
    frontend = None
    try:
        urls = f"127.0.0.1:{first.grpc_port},127.0.0.1:{second.grpc_port}"
        frontend = start_server(tmp_path / "frontend", "--triton-url", urls)
        client = openai.OpenAI(base_url=frontend.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=120)

        def ask(_):
            return client.chat.completions.create(**ASK).choices[0].finish_reason

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert set(pool.map(ask, range(16))) <= {"stop", "length"}
        assert wait_for(lambda: finished(first) + finished(second) >= 16)
        on_first, on_second = finished(first), finished(second)
        assert on_first >= 4 and on_second >= 4 and on_first + on_second == 16  # both served

        second.process.kill()  # the launcher's Triton goes with it (PDEATHSIG)
        second.process.wait(30)
        time.sleep(1)
        outcomes = []
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for result in pool.map(lambda i: _outcome(ask, i), range(12)):
                outcomes.append(result)
        # A request that finds the dead server before anything came back is retried on the other.
        assert outcomes == ["served"] * 12, outcomes
        assert wait_for(lambda: finished(first) >= on_first + 12)
        assert finished(first) == on_first + 12
        assert httpx.get(frontend.base_url + "/health", timeout=10).status_code == 200
    finally:
        for running in (frontend, first, second):
            if running is not None:
                running.stop()


def _outcome(ask, i):
    try:
        ask(i)
        return "served"
    except openai.APIStatusError as exc:
        return exc.status_code
