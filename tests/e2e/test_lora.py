"""LoRA adapters served by model name (real stack).

No adapters for our models ship on our registries, so the test makes two with peft on the
default base model (non-zero weights, save_pretrained) and checks that an adapter changes
the greedy output, that the output equals peft's own in-process generation, that base and
adapters mixed in concurrent requests each get their own output, and the load/unload
admin routes (admin keys when keys are on). The server serves the base model at full precision
(--quantization none), the weights peft's reference runs with.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil

import httpx
import openai
import pytest
import torch

from tests.e2e.conftest import MODEL, start_server

TOKENS = 12
API_KEY, ADMIN_KEY = "user-key", "admin-key"


def make_adapter(model_dir, folder, seed, targets):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=32, target_modules=targets, init_lora_weights=False)
    model = get_peft_model(base, config)
    with torch.no_grad():  # larger B so that the adapter clearly changes greedy decoding
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(4.0)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("adapters")
    return {
        "alpha": str(make_adapter(model_dir, root / "alpha", 1, ["q_proj", "v_proj"])),
        "beta": str(make_adapter(model_dir, root / "beta", 2, ["o_proj", "up_proj", "down_proj"])),
    }


@pytest.fixture(scope="module")
def lora_server(tmp_path_factory, adapters):
    running = start_server(
        tmp_path_factory.mktemp("lora"),
        *("--lora", f"alpha={adapters['alpha']}", "--max-loras", "2", "--quantization", "none"),
        *("--api-keys", API_KEY, "--admin-api-keys", ADMIN_KEY),
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def lora_client(lora_server):
    return openai.OpenAI(base_url=lora_server.base_url + "/v1", api_key=API_KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def prompt_ids(tokenizer):
    return tokenizer("The most important thing about the ocean is")["input_ids"]


def complete(client, model, prompt_ids):
    reply = client.completions.create(model=model, prompt=prompt_ids, max_tokens=TOKENS, temperature=0)
    return reply.choices[0].text


def peft_text(model_dir, adapter, prompt_ids, tokenizer):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter).eval()
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=TOKENS, do_sample=False)
    return tokenizer.decode(out[0, len(prompt_ids) :], skip_special_tokens=True)


def admin(server, route, body, key=ADMIN_KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.base_url}/v1/{route}", json=body, headers=headers, timeout=120)


def test_models_lists_the_adapter_with_its_parent(lora_client):
    cards = {m.id: m for m in lora_client.models.list()}
    assert cards["alpha"].parent == MODEL and cards["alpha"].kind == "llm"
    assert getattr(cards[MODEL], "parent", None) is None


def test_adapter_output_differs_from_base_and_equals_peft(lora_client, prompt_ids, adapters, model_dir, tokenizer):
    base, adapted = complete(lora_client, MODEL, prompt_ids), complete(lora_client, "alpha", prompt_ids)
    assert adapted != base
    assert adapted == peft_text(model_dir, adapters["alpha"], prompt_ids, tokenizer)


def test_chat_through_an_adapter_names_it(lora_client):
    reply = lora_client.chat.completions.create(
        model="alpha", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0
    )
    assert reply.model == "alpha" and reply.choices[0].message.content


def test_load_mix_and_unload_at_run_time(lora_server, lora_client, prompt_ids, adapters, model_dir, tokenizer):
    # Admin routes take the admin key only.
    body = {"lora_name": "beta", "lora_path": adapters["beta"]}
    assert admin(lora_server, "load_lora_adapter", body, key=None).status_code == 401
    assert admin(lora_server, "load_lora_adapter", body, key=API_KEY).status_code == 401
    loaded = admin(lora_server, "load_lora_adapter", body)
    assert loaded.status_code == 200, loaded.text
    assert admin(lora_server, "load_lora_adapter", body).status_code == 400  # already loaded
    assert "beta" in {m.id for m in lora_client.models.list()}

    alone = {name: complete(lora_client, name, prompt_ids) for name in (MODEL, "alpha", "beta")}
    assert len(set(alone.values())) == 3
    assert alone["beta"] == peft_text(model_dir, adapters["beta"], prompt_ids, tokenizer)
    # Base and both adapters mixed in concurrent requests (one batch): each gets its own output.
    names = [MODEL, "alpha", "beta"] * 4
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        mixed = list(pool.map(lambda name: complete(lora_client, name, prompt_ids), names))
    assert mixed == [alone[name] for name in names]

    assert admin(lora_server, "unload_lora_adapter", {"lora_name": "beta"}).status_code == 200
    with pytest.raises(openai.NotFoundError):
        complete(lora_client, "beta", prompt_ids)
    assert admin(lora_server, "unload_lora_adapter", {"lora_name": "beta"}).status_code == 404


def test_unknown_adapter_is_a_404(lora_client, prompt_ids):
    with pytest.raises(openai.NotFoundError) as caught:
        complete(lora_client, "gamma", prompt_ids)
    assert "gamma" in caught.value.message


def test_adapters_that_do_not_fit_are_refused_at_load(lora_server, tmp_path, adapters, lora_client):
    missing = admin(lora_server, "load_lora_adapter", {"lora_name": "ghost", "lora_path": str(tmp_path / "none")})
    assert missing.status_code == 400 and "adapter_config.json" in missing.json()["error"]["message"]

    bad = shutil.copytree(adapters["alpha"], tmp_path / "bad")
    config = json.loads((bad / "adapter_config.json").read_text())
    (bad / "adapter_config.json").write_text(json.dumps({**config, "r": 4}))  # the weights have rank 8
    wrong = admin(lora_server, "load_lora_adapter", {"lora_name": "bad", "lora_path": str(bad)})
    assert wrong.status_code == 400 and "rank 4" in wrong.json()["error"]["message"]

    other_base = admin(
        lora_server,
        "load_lora_adapter",
        {"lora_name": "orphan", "lora_path": adapters["alpha"], "base_model_name": "not-loaded"},
    )
    assert other_base.status_code == 400 and "not-loaded" in other_base.json()["error"]["message"]
    assert {"ghost", "bad", "orphan"}.isdisjoint(m.id for m in lora_client.models.list())
