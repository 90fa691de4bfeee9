"""Grammar-constrained decoding and logprobs in the engine, on the real model."""

from __future__ import annotations

import json
import math
import re

import jsonschema
import pytest

from tests.unit.engine_helpers import chat_ids, submit
from triton_openai.models.llm.params import InvalidRequest
from triton_openai.models.llm.token_bytes import TokenBytes

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
        "address": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 20},
                "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
            },
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "pets", "address"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def engine(loaded):
    from triton_openai.models.llm.engine_config import EngineConfig
    from triton_openai.models.llm.torch_engine import TorchEngine

    engine = TorchEngine(loaded, EngineConfig(max_num_seqs=8)).start()
    yield engine
    engine.shutdown()


def test_json_schema_outputs_always_validate(engine, tokenizer):
    ids = chat_ids(tokenizer, "Describe a person as JSON.")
    runs = [
        submit(engine, ids, max_tokens=200, temperature=1.0, seed=s, guide_type="json_schema", guide=json.dumps(SCHEMA))
        for s in range(6)
    ]
    for run in runs:
        assert run.done.wait(120)
        assert run.last.finish_reason == "stop"
        jsonschema.validate(json.loads(run.text), SCHEMA)


def test_json_object_regex_and_choice(engine, tokenizer):
    ids = chat_ids(tokenizer, "Give me some data.")
    obj = submit(engine, ids, max_tokens=120, temperature=0.7, seed=1, guide_type="json_object")
    regex = submit(engine, ids, max_tokens=20, temperature=1.0, seed=2, guide_type="regex", guide=r"[A-Z]{3}-[0-9]{4}")
    choice = submit(engine, ids, max_tokens=10, temperature=1.0, seed=3, guide_type="choice", guide='["yes", "no"]')
    for run in (obj, regex, choice):
        assert run.done.wait(120)
    assert isinstance(json.loads(obj.text), dict)
    assert re.fullmatch(r"[A-Z]{3}-[0-9]{4}", regex.text) and regex.last.finish_reason == "stop"
    assert choice.text in ("yes", "no")


@pytest.mark.parametrize(
    "guide_type, guide, message",
    [
        ("json_schema", "{not json", "not valid JSON"),
        ("json_schema", '{"type": "nonsense"}', "nonsense"),
        ("regex", "[0-9", "regex"),
        ("choice", "[]", "non-empty"),
        ("magic", "x", "unknown guided decoding type"),
    ],
)
def test_bad_guides_are_invalid_requests(engine, tokenizer, guide_type, guide, message):
    with pytest.raises(InvalidRequest, match=message):
        submit(engine, chat_ids(tokenizer, "hi"), guide_type=guide_type, guide=guide)


def test_logprobs_of_chosen_and_alternatives(engine, tokenizer):
    run = submit(
        engine, chat_ids(tokenizer, "What is the capital of France?"), max_tokens=6, temperature=0.0, logprobs=3
    )
    assert run.done.wait(60)
    entries = [lp for o in run.outputs for lp in o.logprobs]
    assert [e.token_id for e in entries] == run.ids
    for entry in entries:
        assert entry.logprob <= 0 and len(entry.top) == 3
        assert entry.top[0][0] == entry.token_id  # greedy: the chosen token is the most likely
        assert math.isclose(entry.top[0][1], entry.logprob, abs_tol=1e-5)
        assert entry.top[0][1] >= entry.top[1][1] >= entry.top[2][1]
    plain = submit(engine, chat_ids(tokenizer, "hi"), max_tokens=3, temperature=0.0)
    assert plain.done.wait(60) and not any(o.logprobs for o in plain.outputs)


def test_token_bytes_rebuild_the_text(tokenizer):
    token_bytes = TokenBytes(tokenizer)
    text = "Hello 世界 🎉 naïve"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert b"".join(token_bytes.bytes_of(i) for i in ids).decode() == text
    assert token_bytes.entry(tokenizer.eos_token_id, -0.5) == {
        "token": "<|im_end|>",
        "logprob": -0.5,
        "bytes": list(b"<|im_end|>"),
    }


def test_json_is_generated_on_one_line(engine, tokenizer):
    run = submit(engine, chat_ids(tokenizer, "Describe a person as JSON."), max_tokens=200, temperature=1.0, seed=5,
                 guide_type="json_schema", guide=json.dumps(SCHEMA))  # fmt: skip
    assert run.done.wait(120)
    structure = re.sub(r'"(\\.|[^"\\])*"', '""', run.text)  # whitespace inside strings is the model's
    assert "\n" not in structure and "  " not in structure
    json.loads(run.text)
