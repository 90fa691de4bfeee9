"""Default sampling from a model folder's generation_config.json, and the tokenizer facts the build reads."""

import json

import pytest

from triton_openai.models.llm.generation_defaults import GenerationConfigError, read_defaults, resolve_defaults
from triton_openai.repository.tokenizer_facts import max_chars_per_token, reasoning_parser


@pytest.fixture
def folder(tmp_path):
    config = {"bos_token_id": 1, "do_sample": True, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 512}
    (tmp_path / "generation_config.json").write_text(json.dumps(config))
    return tmp_path


def test_the_folder_sampling_fields_become_defaults(folder, tmp_path_factory):
    assert read_defaults(folder) == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 512}
    assert read_defaults(tmp_path_factory.mktemp("no-file")) == {}


def test_none_ignores_the_folder_and_overrides_win(folder):
    assert resolve_defaults(folder, "none", {}) == {}
    overridden = resolve_defaults(folder, "auto", {"temperature": 0.1, "max_new_tokens": None, "top_k": 40})
    assert overridden == {"temperature": 0.1, "top_p": 0.95, "top_k": 40}
    assert isinstance(overridden["top_k"], int)


@pytest.mark.parametrize(
    "source, overrides, fragment",
    [
        ("vllm", {}, "one of auto, none"),
        ("auto", {"seed": 1}, "not a sampling default"),
        ("auto", {"top_p": "x"}, "number"),
    ],
)
def test_bad_settings_are_refused(folder, source, overrides, fragment):
    with pytest.raises(GenerationConfigError, match=fragment):
        resolve_defaults(folder, source, overrides)


def tokenizer_json(tmp_path, vocab, normalizer=None, added=()):
    spec = {"normalizer": normalizer, "model": {"type": "BPE", "vocab": vocab}, "added_tokens": list(added)}
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    return tmp_path


def test_max_chars_per_token_from_the_vocabulary(tmp_path):
    folder = tokenizer_json(tmp_path, {"a": 0, "ĠĠĠĠ": 1}, added=[{"content": "<|im_start|>"}])
    assert max_chars_per_token(folder) == len("<|im_start|>")


@pytest.mark.parametrize(
    "normalizer, factor",
    [
        ({"type": "Sequence", "normalizers": [{"type": "Prepend"}, {"type": "Replace"}]}, 1),
        ({"type": "NFC"}, 4),  # composing: several characters may become one
        ({"type": "BertNormalizer"}, 0),  # may drop characters: no bound
    ],
)
def test_normalizers_widen_or_turn_off_the_bound(tmp_path, normalizer, factor):
    assert max_chars_per_token(tokenizer_json(tmp_path, {"abc": 0}, normalizer)) == 3 * factor


def test_unigram_vocabularies_and_missing_files(tmp_path):
    spec = {"normalizer": None, "model": {"type": "Unigram", "vocab": [["▁hello", -1.0], ["x", -2.0]]}}
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    assert max_chars_per_token(tmp_path) == 6
    assert max_chars_per_token(tmp_path / "nowhere") == 0


def test_reasoning_parser_from_the_template():
    assert reasoning_parser("{{ '<think>\\n' }}") == "think"
    assert reasoning_parser("{% if '</think>' in content %}{% endif %}") == "think"
    assert reasoning_parser("<|im_start|>assistant") == ""
