"""Schemathesis against our own OpenAPI document: generated requests, valid and not, to
every operation of the running stack (all models) must never get a 5xx, and the server
serves on afterwards with no engine request left running.

Bounded for CI: FUZZ_MAX_EXAMPLES per operation (default 25) with a fixed FUZZ_SEED; the
hooks in tests/fuzz keep generations short. Set FUZZ_SEED to explore other inputs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from tests.e2e.conftest import MODEL
from tests.e2e.test_cancellation import LLM, wait_for

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_generated_requests_get_no_server_error(server, client, tmp_path):
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        os.environ.get("FUZZ_MAX_EXAMPLES", "25"),
        "--seed",
        os.environ.get("FUZZ_SEED", "1"),
        "--workers",  # one: hypothesis's lambda descriptions are not thread-safe on Python 3.11
        "1",
        "--request-timeout",
        "120",
        "--output-sanitize",
        "false",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    # Run from tmp_path: schemathesis keeps a .schemathesis/ cache in its working folder.
    root = str(Path(__file__).resolve().parents[2])
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.schemathesis_hooks",
        "NO_COLOR": "1",
    }
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated and int(generated.group(1)) > 500, run.stdout[-2000:]
    # The Responses and Messages routes were generated for, not skipped (say, as unsupported).
    cases = {
        case.get("name"): case for path in tmp_path.rglob("*.xml") for case in ElementTree.parse(path).iter("testcase")
    }
    for operation in ("POST /v1/responses", "GET /v1/responses/{response_id}/input_items", "POST /v1/messages"):
        assert operation in cases and cases[operation].find("skipped") is None, f"{operation} was not fuzzed"
    # Nothing the fuzzer started is still running, and ordinary requests are served.
    assert wait_for(lambda: server.metric("llm_engine_requests_running", LLM) == 0)
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    assert reply.choices[0].finish_reason in ("stop", "length")
