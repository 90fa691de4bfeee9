"""Model preparation: specs, and the conversion cache that makes the second start fast."""

import json

import pytest

import build.prepare as prepare
from build.prepare import ModelSpec, ModelSpecError, prepare_model


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


def test_gguf_is_converted_once_then_reused(tmp_path, monkeypatch):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    calls = []

    def convert(source, out_dir, dtype="bfloat16"):
        calls.append(source)
        (out_dir / "config.json").write_text(json.dumps({"max_position_embeddings": 64}))

    monkeypatch.setattr(prepare, "convert_gguf", convert)
    first = prepare_model(ModelSpec.parse(str(gguf)), tmp_path / "cache")
    second = prepare_model(ModelSpec.parse(str(gguf)), tmp_path / "cache")
    assert calls == [gguf]
    assert first == second and (first.model_dir / "config.json").is_file()
    assert not [p for p in first.model_dir.parent.iterdir() if p.name.startswith(".")]  # no scratch left


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
