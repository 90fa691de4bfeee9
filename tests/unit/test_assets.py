"""Embedding, Whisper and voice models: catalog lookups, names, languages, joined parts."""

import json
import sys

import pytest

from triton_openai.repository import assets
from triton_openai.repository.assets import (
    EMBEDDINGS,
    SPEECH,
    TRANSCRIPTION,
    PackagedAsset,
    prepare_asset,
    whisper_languages,
)
from triton_openai.repository.prepare import ModelSpecError


def test_catalog_models_resolve_to_installed_folders(tmp_path):
    embedding = prepare_asset("all-minilm-l6-v2", EMBEDDINGS, tmp_path)
    assert embedding.name == "all-minilm-l6-v2" and (embedding.path / "modules.json").is_file()
    whisper = prepare_asset("stt=whisper-tiny.en", TRANSCRIPTION, tmp_path)
    assert whisper.name == "stt" and (whisper.path / "model.bin").is_file()
    assert whisper_languages(whisper.path) == ["en"]
    assert assets.embedding_info(embedding.path) == (384, 256)


def test_voice_files_are_named_like_piper_names_them(tmp_path):
    voice = tmp_path / "de_DE-thorsten-high.onnx"
    voice.write_bytes(b"onnx")
    (tmp_path / "de_DE-thorsten-high.onnx.json").write_text("{}")
    assert prepare_asset(str(voice), SPEECH, tmp_path).name == "thorsten"
    assert prepare_asset(f"anna={voice}", SPEECH, tmp_path).name == "anna"


def test_wrong_kind_or_unknown_source_is_a_clear_error(tmp_path):
    with pytest.raises(ModelSpecError, match="is a embeddings model"):
        prepare_asset("all-minilm-l6-v2", TRANSCRIPTION, tmp_path)
    with pytest.raises(ModelSpecError, match="CTranslate2 Whisper folder"):
        prepare_asset(str(tmp_path / "missing"), TRANSCRIPTION, tmp_path)


def test_multilingual_whisper_lists_its_languages(tmp_path):
    words = [f"t{i}" for i in range(51865)]
    words[50259], words[50260] = "<|en|>", "<|zh|>"
    (tmp_path / "vocabulary.txt").write_text("\n".join(words))
    (tmp_path / "config.json").write_text(json.dumps({"lang_ids": [50259, 50260]}))
    assert whisper_languages(tmp_path) == ["en", "zh"]


def test_split_models_are_joined_once_into_the_cache(tmp_path, monkeypatch):
    for index in (1, 2):
        package = tmp_path / "site" / f"fake_part{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"model.bin.part{index}").write_bytes(b"AB" if index == 1 else b"CD")
    (tmp_path / "site" / "fake_part1" / "data" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    asset = PackagedAsset(
        name="fake", kind=TRANSCRIPTION, package="fake", module="fake_part1", path="data", description="",
        parts=(("fake_part1", "data/model.bin.part1"), ("fake_part2", "data/model.bin.part2")), joined="model.bin",
    )  # fmt: skip
    folder = asset.locate(tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == b"ABCD"
    assert (folder / "config.json").is_file() and not (folder / "model.bin.part1").exists()
    assert asset.locate(tmp_path / "cache") == folder
    sys.modules.pop("fake_part1", None)
