import argparse

from triton_openai.frontend.settings import Settings, add_arguments, from_arguments
from triton_openai.launch.cli import parser


def parse(args):
    p = argparse.ArgumentParser()
    add_arguments(p)
    return from_arguments(p.parse_args(args))


def test_defaults():
    settings = parse([])
    assert settings.port == 5000 and settings.model == ["smollm2-135m-instruct"] and settings.triton_url == []


def test_flags_override_environment(monkeypatch):
    monkeypatch.setenv("TRITON_OPENAI_PORT", "6000")
    monkeypatch.setenv("TRITON_OPENAI_MAX_NUM_SEQS", "4")
    settings = parse(["--port", "7000"])
    assert settings.port == 7000 and settings.max_num_seqs == 4


def test_list_flags_repeat_and_env_takes_json(monkeypatch):
    assert parse(["--model", "a=/x", "--model", "b=/y"]).model == ["a=/x", "b=/y"]
    monkeypatch.setenv("TRITON_OPENAI_MODEL", '["c=/z"]')
    assert parse([]).model == ["c=/z"]


def test_settings_round_trip_through_the_environment(monkeypatch):
    settings = Settings(port=1234, triton_url="127.0.0.1:9", model=["a", "b"])
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


def test_several_triton_urls_repeated_or_comma_separated():
    assert parser().parse_args(["serve", "--triton-url", "a:1", "--triton-url", "b:1"]).triton_url == ["a:1", "b:1"]
    assert Settings(triton_url="a:1, b:1").triton_url == ["a:1", "b:1"]
    assert Settings(triton_url=["a:1,b:1", "c:1"]).triton_url == ["a:1", "b:1", "c:1"]


def test_serve_is_the_default_command():
    args = parser().parse_args(["serve", "--port", "1"])
    assert args.command == "serve" and args.port == 1
    args = parser().parse_args(["build", "--output", "/tmp/x"])
    assert args.command == "build" and not hasattr(args, "port")


def test_embedding_and_audio_models_can_be_turned_off():
    from triton_openai.launch.launcher import build_options
    from triton_openai.repository.pipeline import _enabled

    settings = parse(["--embedding-model", "none", "--speech-voice", "joe", "--speech-voice", "x=/v.onnx"])
    options = build_options(settings)
    assert _enabled(options["embedding_models"]) == []
    assert options["transcription_models"] == ["whisper-tiny.en"]
    assert options["speech_voices"] == ["joe", "x=/v.onnx"]
    assert {"device", "num_threads", "audio_workers", "whisper_beam_size"} <= options.keys()
