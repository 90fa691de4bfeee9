"""triton_openai.models.llm.lora on a tiny random Llama served by the engine's decoder: per-request adapters in
one batch equal peft's own forward for each adapter, and adapters that do not fit are refused
with a clear message."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import torch

from triton_openai.models.llm.decoder_loader import load_decoder
from triton_openai.models.llm.lora import LoRASet
from triton_openai.models.llm.params import InvalidRequest

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def base():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def decoder(base, tmp_path_factory):
    folder = tmp_path_factory.mktemp("base")
    base.save_pretrained(folder)
    return load_decoder(str(folder))


def lora_set(decoder, max_loras=2):
    return LoRASet(decoder.shape.module_shapes(), max_loras=max_loras, dtype=torch.float32, device=CPU)


def make_adapter(base, folder, seed, targets, **extra):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(
        copy.deepcopy(base), LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False, **extra)
    )
    model.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def adapters(base, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    return {
        "a": make_adapter(base, root / "a", 1, ["q_proj", "v_proj"]),
        "b": make_adapter(base, root / "b", 2, ["o_proj", "down_proj"], use_rslora=True),
    }


def peft_logits(base, folder, ids):
    from peft import PeftModel

    with torch.no_grad():
        return PeftModel.from_pretrained(copy.deepcopy(base), folder).eval()(ids).logits


def test_requests_of_one_batch_each_get_their_adapter(base, decoder, adapters):
    ids = [5, 9, 17, 3, 22]
    loras = lora_set(decoder)
    a, b = loras.acquire("a", adapters["a"]), loras.acquire("b", adapters["b"])
    with torch.no_grad():
        mixed = decoder.prompt_logits([ids] * 3, loras.use([a] * 5 + [None] * 5 + [b] * 5))
        plain = base(torch.tensor([ids])).logits[0]
    torch.testing.assert_close(mixed[0], peft_logits(base, adapters["a"], torch.tensor([ids]))[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[1], plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[2], peft_logits(base, adapters["b"], torch.tensor([ids]))[0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(mixed[0], mixed[1]) and not torch.allclose(mixed[2], mixed[1])
    with torch.no_grad():  # one adapter for every token of the batch
        torch.testing.assert_close(decoder.prompt_logits([ids], loras.use([b] * 5))[0], mixed[2], atol=1e-5, rtol=1e-5)
    assert loras.use([None] * 5) is None


def test_least_recently_used_idle_adapter_makes_room(decoder, adapters):
    loras = lora_set(decoder, max_loras=1)
    a = loras.acquire("a", adapters["a"])
    loras.release(a)
    held = loras.acquire("b", adapters["b"])
    assert loras.names == ["b"]
    loras.acquire("a", adapters["a"])  # b is in use: kept, one over the bound
    assert sorted(loras.names) == ["a", "b"]
    loras.release(held)
    assert loras.unload("b") and not loras.unload("b")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: {**c, "r": 2}, "for rank 2"),
        (lambda c: {**c, "use_dora": True}, "DoRA"),
        (lambda c: {**c, "bias": "all"}, "biases"),
        (lambda c: {**c, "peft_type": "IA3"}, "not LORA"),
    ],
)
def test_adapters_that_do_not_fit_are_refused(decoder, adapters, tmp_path, change, message):
    folder = shutil.copytree(adapters["a"], tmp_path / "x")
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps(change(config)))
    loras = lora_set(decoder)
    with pytest.raises(InvalidRequest, match=message):
        loras.acquire("x", str(folder))
    assert loras.names == []


def test_an_adapter_for_another_architecture_names_the_missing_module(decoder, adapters, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(adapters["a"], tmp_path / "y")
    weights = load_file(folder / "adapter_model.safetensors")
    save_file({k.replace("q_proj", "c_attn"): v for k, v in weights.items()}, folder / "adapter_model.safetensors")
    loras = lora_set(decoder)
    with pytest.raises(InvalidRequest, match="no adaptable module .*c_attn"):
        loras.acquire("y", str(folder))
    with pytest.raises(InvalidRequest, match="adapter_config.json"):
        loras.acquire("z", str(tmp_path / "missing"))
