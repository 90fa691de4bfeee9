"""Model preparation: specs, and the conversion cache that makes the second start fast."""

import json
import re

import pytest

import triton_openai.repository.prepare as prepare
from triton_openai.repository.prepare import ModelSpec, ModelSpecError, prepare_model


def test_spec_names():
    assert ModelSpec.parse("smollm2-135m-instruct") == ModelSpec("smollm2-135m-instruct", "smollm2-135m-instruct")
    assert ModelSpec.parse("/models/My-Model") == ModelSpec("my-model", "/models/My-Model")
    assert ModelSpec.parse("/models/x.Q4.gguf").name == "x.q4"
    assert ModelSpec.parse("chat=/models/x") == ModelSpec("chat", "/models/x")
    with pytest.raises(ModelSpecError):
        ModelSpec.parse("bad name=/x")


def test_unknown_source_says_what_is_accepted(tmp_path):
    with pytest.raises(ModelSpecError, match="neither a known model"):
        prepare_model(ModelSpec.parse(str(tmp_path / "missing")), tmp_path)


def test_a_hugging_face_folder_is_used_in_place(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    model = prepare_model(ModelSpec.parse(str(folder)), tmp_path / "cache")
    assert model.model_dir == folder and not (tmp_path / "cache").exists()


@pytest.fixture
def conversions(tmp_path, monkeypatch):
    """A GGUF file and the list of conversions made of it (a converter double writes config.json)."""
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    calls = []

    def convert(source, out_dir, dtype="bfloat16"):
        calls.append(source)
        (out_dir / "config.json").write_text(json.dumps({"max_position_embeddings": 64}))

    monkeypatch.setattr(prepare, "convert_gguf", convert)
    return gguf, calls


def test_gguf_is_converted_once_then_reused(tmp_path, conversions):
    gguf, calls = conversions
    first = prepare_model(ModelSpec.parse(str(gguf)), tmp_path / "cache")
    second = prepare_model(ModelSpec.parse(str(gguf)), tmp_path / "cache")
    assert calls == [gguf]
    assert first == second and (first.model_dir / "config.json").is_file()
    assert not [p for p in first.model_dir.parent.iterdir() if p.name.startswith(".")]  # no scratch left


def test_another_transformers_version_converts_again(tmp_path, conversions, monkeypatch):
    # save_pretrained's format differs between transformers versions (5.x tokenizer classes
    # do not load in 4.x), so a cache shared by two images must not hand one the other's folder.
    gguf, calls = conversions
    monkeypatch.setattr(prepare.metadata, "version", lambda name: {"transformers": "4.57.1"}[name])
    older = prepare_model(ModelSpec.parse(str(gguf)), tmp_path / "cache")
    monkeypatch.setattr(prepare.metadata, "version", lambda name: {"transformers": "5.24.0"}[name])
    newer = prepare_model(ModelSpec.parse(str(gguf)), tmp_path / "cache")
    assert len(calls) == 2 and older.model_dir != newer.model_dir


def test_failed_conversion_leaves_no_cache_entry(tmp_path, monkeypatch):
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"GGUF")

    def convert(source, out_dir, dtype="bfloat16"):
        (out_dir / "partial").write_text("x")
        raise RuntimeError("bad file")

    monkeypatch.setattr(prepare, "convert_gguf", convert)
    with pytest.raises(RuntimeError):
        prepare_model(ModelSpec.parse(str(gguf)), tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir() if not p.name.endswith(".lock")] == []


def test_the_default_model_is_cached(prepared_model):
    # The session fixture converted it (or found it); preparing again must not convert.
    assert (prepared_model.model_dir / "model.safetensors").is_file()
    assert (prepared_model.model_dir / "chat_template.jinja").is_file()
    assert prepared_model.has_chat_template


def test_the_tokenizer_follows_the_ggufs_special_tokens(model_dir):
    from transformers import AutoTokenizer

    from triton_openai.repository.gguf_convert import ConversionError, _match_metadata, check_tokenizer

    # SmolLM2's GGUF: BOS 1, end of turn 2, no BOS added (transformers 4.57 read it otherwise).
    metadata = {"bos_token_id": 1, "eos_token_id": 2, "add_bos_token": False, "model": "gpt2"}
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    check_tokenizer(tokenizer, metadata)  # what we serve agrees with the GGUF
    tokenizer.eos_token = "<|im_start|>"
    with pytest.raises(ConversionError, match=re.escape("eos token is '<|im_start|>'")):
        check_tokenizer(tokenizer, metadata)
    _match_metadata(tokenizer, metadata)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == 2
    check_tokenizer(tokenizer, metadata)
    with pytest.raises(ConversionError, match="omits the BOS"):
        check_tokenizer(tokenizer, {**metadata, "add_bos_token": True})


def test_a_byte_level_vocabulary_gets_a_byte_level_decoder(model_dir):
    from tokenizers import decoders
    from transformers import AutoTokenizer

    from triton_openai.repository.gguf_convert import ConversionError, _match_metadata, check_tokenizer

    metadata = {"eos_token_id": 2, "model": "gpt2"}
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    text = 'Hi {"a": 1} 世界🎉'
    ids = tokenizer.encode(text)
    # What transformers 4.57 makes of SmolLM2's GGUF: SentencePiece's decoders over byte-level BPE.
    tokenizer.backend_tokenizer.decoder = decoders.Sequence(
        [decoders.ByteFallback(), decoders.Fuse(), decoders.Replace("▁", " "), decoders.ByteLevel()]
    )
    tokenizer.backend_tokenizer.model.byte_fallback = True
    with pytest.raises(ConversionError, match="byte-level"):
        check_tokenizer(tokenizer, metadata)
    _match_metadata(tokenizer, metadata)
    check_tokenizer(tokenizer, metadata)
    assert tokenizer.encode(text) == ids and tokenizer.decode(ids) == text


def test_a_catalog_models_sampling_is_written_into_its_folder(tmp_path, conversions):
    gguf, _ = conversions
    model = prepare._from_gguf("m", gguf, tmp_path / "cache", "1", {"temperature": 0.2})
    assert json.loads((model.model_dir / "generation_config.json").read_text()) == {"temperature": 0.2}
    other = prepare._from_gguf("m", gguf, tmp_path / "cache", "1", {"temperature": 0.3})
    assert other.model_dir != model.model_dir  # the defaults are part of the cache key
