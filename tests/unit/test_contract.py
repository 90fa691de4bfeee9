"""The config.pbtxt templates and triton_openai.contract describe the same contract."""

import argparse
import json

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from triton_openai import contract as t
from triton_openai.model_settings import (
    ImageParameters,
    ImageSettings,
    LLMEngineSettings,
    LLMParameters,
    LLMSettings,
    VisionSettings,
    read_parameters,
)
from triton_openai.repository.fill_template import fill_template, placeholders
from triton_openai.repository.prepare import PreparedModel
from triton_openai.repository.render import TEMPLATES, LLMDeployment, render_repository

LLM_OUTPUTS = {
    t.TEXT_OUTPUT,
    t.OUTPUT_IDS,
    t.FINISH_REASON,
    t.NUM_INPUT_TOKENS,
    t.NUM_OUTPUT_TOKENS,
    t.LOGPROBS,
    t.NUM_CACHED_TOKENS,
    t.STOP_REASON,
    t.STOP_TOKEN_ID,
}


def parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def template(name: str) -> model_config_pb2.ModelConfig:
    source = (TEMPLATES / name / "config.pbtxt").read_text()
    return parse(fill_template(source, {key: "1" for key in placeholders(source)}))


def io(config, kind):
    return {tensor.name: model_config_pb2.DataType.Name(tensor.data_type) for tensor in getattr(config, kind)}


def typed(*names: str) -> dict[str, str]:
    """The names with their types in the contract's table, as config.pbtxt writes them."""
    return {name: f"TYPE_{t.TENSOR_TYPES[name]}" for name in names}


@pytest.mark.parametrize("model", sorted(p.name for p in TEMPLATES.iterdir() if (p / "config.pbtxt").is_file()))
def test_every_tensor_of_every_model_has_the_type_of_the_contract_table(model):
    config = template(model)
    assert config.input and config.output
    for kind in ("input", "output"):
        assert io(config, kind) == typed(*io(config, kind))


def test_the_table_names_only_tensors_some_model_has():
    named = set()
    for folder in TEMPLATES.iterdir():
        if (folder / "config.pbtxt").is_file():
            config = template(folder.name)
            named |= set(io(config, "input")) | set(io(config, "output"))
    assert set(t.TENSOR_TYPES) == named


def test_llm_inputs_are_a_prompt_and_the_generation_parameters():
    config = template("llm")
    assert io(config, "input") == typed(*t.PROMPT_INPUTS, *t.GENERATION_PARAMETERS)
    assert all(tensor.optional for tensor in config.input)  # text_input, messages or input_ids


def test_llm_is_decoupled_and_outputs_the_contract_and_the_rendered_prompt():
    config = template("llm")
    assert config.model_transaction_policy.decoupled
    assert set(io(config, "output")) == LLM_OUTPUTS | {t.RENDERED_PROMPT}


PROMPT_INPUTS = {
    t.TEXT_INPUT: "TYPE_STRING",
    t.MESSAGES: "TYPE_STRING",
    t.TOOLS: "TYPE_STRING",
    t.ADD_SPECIAL_TOKENS: "TYPE_BOOL",
    t.ADD_GENERATION_PROMPT: "TYPE_BOOL",
    t.CONTINUE_FINAL_MESSAGE: "TYPE_BOOL",
    t.CHAT_TEMPLATE_KWARGS: "TYPE_STRING",
}


def test_preprocessing_turns_text_or_messages_into_ids_and_ids_into_text():
    config = template("preprocessing")
    assert io(config, "input") == PROMPT_INPUTS | {t.RETURN_TOKEN_STRS: "TYPE_BOOL", t.OUTPUT_IDS: "TYPE_INT32"}
    assert set(io(config, "output")) == {t.INPUT_IDS, t.INPUT_LENGTHS, t.RENDERED_PROMPT, t.TOKEN_STRS, t.TEXT_OUTPUT}


def test_ensemble_is_one_step_to_the_llm_model_with_all_its_inputs():
    ensemble, llm = template("ensemble"), template("llm")
    assert io(ensemble, "input") == io(llm, "input")
    assert all(tensor.optional for tensor in ensemble.input)
    (step,) = ensemble.ensemble_scheduling.step
    assert step.model_name == "1"  # ${llm_model}, filled with "1" here
    assert dict(step.input_map) == {name: name for name in io(llm, "input")}
    assert dict(step.output_map) == {name: name for name in LLM_OUTPUTS}  # the rendered prompt stays out
    assert io(ensemble, "output") == {k: v for k, v in io(llm, "output").items() if k in LLM_OUTPUTS}


def test_ensemble_carries_the_frontend_parameters():
    keys = set(template("ensemble").parameters)
    assert {
        t.PARAM_OPENAI_KIND,
        t.PARAM_HAS_CHAT_TEMPLATE,
        t.PARAM_MAX_MODEL_LEN,
        t.PARAM_SYSTEM_FINGERPRINT,
        t.PARAM_MAX_CHARS_PER_TOKEN,
        t.PARAM_REASONING_PARSER,
    } <= keys


@pytest.fixture
def fake_model(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    (folder / "chat_template.jinja").write_text("{{ messages }}<think>")
    (folder / "generation_config.json").write_text(json.dumps({"temperature": 0.2, "max_new_tokens": 64}))
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"hello": 0}}, "added_tokens": []}))
    return PreparedModel("tiny", folder, "key")


def test_render_repository(tmp_path, fake_model):
    out = render_repository([LLMDeployment(fake_model, LLMSettings(max_model_len=1024))], tmp_path / "repo")
    assert sorted(p.name for p in out.iterdir()) == ["tiny", "tiny_llm", "tiny_preprocessing"]
    ensemble = parse((out / "tiny" / "config.pbtxt").read_text())
    params = {k: v.string_value for k, v in ensemble.parameters.items()}
    assert params[t.PARAM_OPENAI_KIND] == "llm"
    assert params[t.PARAM_HAS_CHAT_TEMPLATE] == "true"
    assert params[t.PARAM_MAX_MODEL_LEN] == "1024"
    assert params[t.PARAM_SYSTEM_FINGERPRINT].startswith("fp_")
    assert params[t.PARAM_MAX_CHARS_PER_TOKEN] == "5" and params[t.PARAM_REASONING_PARSER] == "think"
    assert [s.model_name for s in ensemble.ensemble_scheduling.step] == ["tiny_llm"]
    llm = parse((out / "tiny_llm" / "config.pbtxt").read_text())
    assert llm.parameters["model_dir"].string_value == str(fake_model.model_dir)
    assert json.loads(llm.parameters["generation_defaults"].string_value) == {"temperature": 0.2, "max_tokens": 64}
    read = read_parameters(LLMParameters, {k: v.string_value for k, v in llm.parameters.items()})
    assert read.max_model_len == 1024 and read.max_num_seqs == 32 and read.prefix_caching is True
    assert read.generation_defaults == {"temperature": 0.2, "max_tokens": 64} and read.trtllm_args
    assert (out / "tiny_llm" / "1" / "model.py").is_file()
    assert (out / "tiny" / "1").is_dir()


def test_generation_config_none_and_overrides_reach_the_llm_config(tmp_path, fake_model):
    settings = LLMSettings(generation_config="none", override_generation_config='{"top_p": 0.5}')
    deployment = LLMDeployment(fake_model, settings)
    out = render_repository([deployment], tmp_path / "repo")
    llm = parse((out / "tiny_llm" / "config.pbtxt").read_text())
    assert json.loads(llm.parameters["generation_defaults"].string_value) == {"top_p": 0.5}


def test_engine_flags_reach_the_llm_model_by_their_names(tmp_path, fake_model):
    """CLI -> Settings -> the llm model's config.pbtxt -> what its model.py reads, with no rename."""
    from triton_openai.frontend.settings import Settings, add_arguments, from_arguments
    from triton_openai.model_settings import pick

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = ["--max-num-seqs", "7", "--no-prefix-caching", "--quantization", "q8", "--max-queue-len", "9"]
    settings = from_arguments(parser.parse_args(flags))
    assert isinstance(settings, Settings)
    out = render_repository([LLMDeployment(fake_model, pick(LLMSettings, settings))], tmp_path / "repo")
    llm = parse((out / "tiny_llm" / "config.pbtxt").read_text())
    read = read_parameters(LLMParameters, {k: v.string_value for k, v in llm.parameters.items()})
    assert (read.max_num_seqs, read.prefix_caching, read.quantization, read.max_queue_len) == (7, False, "q8", 9)
    assert read.max_model_len == 4096  # resolved: the model's window
    engine_fields = LLMEngineSettings.model_fields.keys() - {"max_model_len"}
    assert {name: getattr(read, name) for name in engine_fields} == {
        name: getattr(settings, name) for name in engine_fields
    }


def test_fingerprint_changes_with_engine_settings(fake_model):
    float32 = LLMDeployment(fake_model, LLMSettings(dtype="float32"))
    assert LLMDeployment(fake_model).system_fingerprint != float32.system_fingerprint
    assert LLMDeployment(fake_model).system_fingerprint == LLMDeployment(fake_model).system_fingerprint


def test_embeddings_takes_text_or_ids_per_row_and_batches_dynamically():
    config = template("embeddings")
    assert config.max_batch_size > 0 and config.HasField("dynamic_batching")
    assert io(config, "input") == {
        t.TEXT_INPUT: "TYPE_STRING",
        t.INPUT_IDS: "TYPE_INT32",
        t.INPUT_LENGTHS: "TYPE_INT32",
        t.TRUNCATE_PROMPT_TOKENS: "TYPE_INT32",
        t.DIMENSIONS: "TYPE_INT32",
    }
    assert io(config, "output") == {t.EMBEDDING: "TYPE_FP32", t.NUM_INPUT_TOKENS: "TYPE_INT32"}
    assert config.parameters[t.PARAM_OPENAI_KIND].string_value == t.KIND_EMBEDDINGS


def test_whisper_and_tts_are_decoupled_and_unbatched():
    whisper, tts = template("whisper"), template("tts")
    for config in (whisper, tts):
        assert config.model_transaction_policy.decoupled and config.max_batch_size == 0
    assert set(io(whisper, "input")) == {t.AUDIO, t.TASK, t.LANGUAGE, t.PROMPT, t.TEMPERATURE, t.WORD_TIMESTAMPS}
    assert set(io(whisper, "output")) == {t.TRANSCRIPTION_EVENT}
    assert set(io(tts, "input")) == {t.TEXT_INPUT, t.VOICE, t.RESPONSE_FORMAT, t.SPEED}
    assert io(tts, "output") == {t.AUDIO_CHUNK: "TYPE_STRING", t.AUDIO_SECONDS: "TYPE_FP32"}
    assert whisper.parameters[t.PARAM_OPENAI_KIND].string_value == t.KIND_TRANSCRIPTION
    assert tts.parameters[t.PARAM_OPENAI_KIND].string_value == t.KIND_SPEECH


def test_vision_takes_the_llm_generation_inputs_and_a_prompt_with_images():
    config = template("vision")
    assert config.model_transaction_policy.decoupled
    inputs = io(config, "input")
    lora = {t.LORA_NAME, t.LORA_PATH, t.LORA_UNLOAD}
    parameters = [name for name in t.GENERATION_PARAMETERS if name not in lora]
    assert inputs == typed(*parameters, *t.PROMPT_INPUTS, t.IMAGES)
    assert all(tensor.optional for tensor in config.input)
    assert set(io(config, "output")) == LLM_OUTPUTS
    params = {k: v.string_value for k, v in config.parameters.items()}
    assert params[t.PARAM_OPENAI_KIND] == t.KIND_LLM and params[t.PARAM_INPUT_MODALITIES] == "text,image"


def test_image_is_decoupled_and_takes_the_generation_options():
    config = template("image")
    assert config.model_transaction_policy.decoupled and config.max_batch_size == 0
    assert set(io(config, "input")) == {
        t.TEXT_INPUT,
        t.NEGATIVE_PROMPT,
        t.NUM_IMAGES,
        t.WIDTH,
        t.HEIGHT,
        t.NUM_INFERENCE_STEPS,
        t.GUIDANCE_SCALE,
        t.SEED,
        t.OUTPUT_FORMAT,
    }
    assert io(config, "output") == {t.IMAGE: "TYPE_STRING"}
    assert config.parameters[t.PARAM_OPENAI_KIND].string_value == t.KIND_IMAGE


def test_render_vision_and_image_models(tmp_path):
    from triton_openai.repository.assets import IMAGE, VISION, PreparedAsset, image_default_size
    from triton_openai.repository.render import ImageDeployment, VisionDeployment

    vlm = tmp_path / "vlm"
    vlm.mkdir()
    (vlm / "config.json").write_text(
        json.dumps({"vision_config": {}, "text_config": {"max_position_embeddings": 8192}})
    )
    (vlm / "chat_template.jinja").write_text("{{ messages }}")
    sd = tmp_path / "sd"
    (sd / "unet").mkdir(parents=True)
    (sd / "vae").mkdir()
    (sd / "model_index.json").write_text("{}")
    (sd / "unet" / "config.json").write_text(json.dumps({"sample_size": 64}))
    (sd / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [128, 256, 512, 512]}))
    assert image_default_size(sd) == (512, 512)
    others = [
        VisionDeployment(PreparedAsset("see", VISION, vlm), VisionSettings(max_model_len=4096)),
        ImageDeployment(PreparedAsset("draw", IMAGE, sd), ImageSettings(image_default_steps=4)),
    ]
    out = render_repository([], tmp_path / "repo", others)
    vision = parse((out / "see" / "config.pbtxt").read_text())
    params = {k: v.string_value for k, v in vision.parameters.items()}
    assert params[t.PARAM_MAX_MODEL_LEN] == "4096" and params[t.PARAM_HAS_CHAT_TEMPLATE] == "true"
    assert params[t.PARAM_LLM_MODEL] == "see" and t.PARAM_PREPROCESSING_MODEL not in params
    image = parse((out / "draw" / "config.pbtxt").read_text())
    assert image.parameters[t.PARAM_DEFAULT_SIZE].string_value == "512x512"
    assert image.parameters[t.PARAM_IMAGE_DEFAULT_STEPS].string_value == "4"  # what the frontend reads
    assert read_parameters(ImageParameters, {k: v.string_value for k, v in image.parameters.items()}) == (
        ImageParameters(model_dir=str(sd), image_default_steps=4)
    )
