"""triton_openai.models.llm.decoder against transformers on the same weights, for each architecture it implements
(tiny random models), and the GGUF's own blocks against the folder converted from it."""

from __future__ import annotations

import pytest
import torch

from triton_openai.models.llm.decoder_loader import load_decoder
from triton_openai.models.llm.gguf_weights import GGUFWeights, llama_rows
from triton_openai.models.llm.native import kernels
from triton_openai.models.llm.quant import PromptMatmul
from triton_openai.models.llm.transformers_decoder import TransformersDecoder

PROMPTS = [[5, 9, 17, 3, 22, 40, 1, 8, 30, 2, 11], [7, 7, 12], [60]]


def tiny(kind: str):
    import transformers

    torch.manual_seed(0)
    common = dict(vocab_size=64, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128)  # fmt: skip
    if kind == "llama":
        config = transformers.LlamaConfig(**common)
        return transformers.LlamaForCausalLM(config)
    if kind == "qwen2":
        return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common))
    if kind == "qwen3":
        return transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**common, head_dim=16))
    if kind == "mistral":
        return transformers.MistralForCausalLM(transformers.MistralConfig(**common))
    raise ValueError(kind)


def logits_without(decoder, attribute: str, sequences, as_prompt: bool = True):
    """decoder.prompt_logits with one of its paths switched off (`attribute` None meanwhile)."""
    saved = getattr(decoder, attribute)
    setattr(decoder, attribute, None)
    try:
        return decoder.prompt_logits(sequences, as_prompt=as_prompt)
    finally:
        setattr(decoder, attribute, saved)


@pytest.mark.parametrize("kind", ["llama", "qwen2", "qwen3", "mistral"])
def test_full_precision_equals_transformers(kind, tmp_path):
    model = tiny(kind).eval()
    if kind == "qwen2":  # random q/k/v biases, so that they are checked too
        with torch.no_grad():
            for layer in model.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    proj.bias.normal_()
    model.save_pretrained(tmp_path)
    decoder = load_decoder(str(tmp_path))
    with torch.no_grad():
        mine = decoder.prompt_logits(PROMPTS)
        for ids, logits in zip(PROMPTS, mine, strict=True):
            torch.testing.assert_close(logits, model(torch.tensor([ids])).logits[0], atol=2e-4, rtol=2e-4)


def test_the_torch_path_equals_the_cpu_kernels(tmp_path):
    tiny("llama").save_pretrained(tmp_path)
    decoder = load_decoder(str(tmp_path))
    with torch.no_grad():
        native = decoder.prompt_logits(PROMPTS)
        plain = logits_without(decoder, "kernels", PROMPTS)
    for a, b in zip(native, plain, strict=True):
        torch.testing.assert_close(a, b, atol=2e-4, rtol=2e-4)


@pytest.mark.parametrize("kind, bound", [("q8", 0.02), ("q4", 0.25)])
def test_blocks_made_at_load_stay_close(kind, bound, tmp_path):
    tiny("llama").save_pretrained(tmp_path)
    full = load_decoder(str(tmp_path), quantization="none").prompt_logits(PROMPTS)
    quantized = load_decoder(str(tmp_path), quantization=kind).prompt_logits(PROMPTS)
    for a, b in zip(full, quantized, strict=True):
        assert (a - b).abs().max() < bound * a.abs().max()


def other(kind: str):
    import transformers

    torch.manual_seed(0)
    if kind == "gpt2":
        return transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2))
    # Gemma 2: sliding-window layers (window 4, shorter than the prompts) and soft-capped scores
    config = transformers.Gemma2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=4,
                                       max_position_embeddings=64)  # fmt: skip
    return transformers.Gemma2ForCausalLM(config)


@pytest.mark.parametrize("kind", ["gpt2", "gemma2"])
def test_other_architectures_run_on_transformers_modules_with_the_paged_cache(kind, tmp_path):
    model = other(kind).eval()
    model.save_pretrained(tmp_path)
    decoder = load_decoder(str(tmp_path))
    assert isinstance(decoder, TransformersDecoder) and decoder.shape.module_shapes() == {}
    with torch.no_grad():
        reference = type(model).from_pretrained(tmp_path, attn_implementation="eager").eval()
        for ids, logits in zip(PROMPTS, decoder.prompt_logits(PROMPTS), strict=True):
            torch.testing.assert_close(logits, reference(torch.tensor([ids])).logits[0], atol=2e-4, rtol=2e-4)


def test_gguf_blocks_dequantize_to_the_converted_folder(prepared_model):
    from safetensors.torch import load_file

    gguf = GGUFWeights(prepared_model.gguf_file, kernels())
    assert gguf.architecture == "llama" and gguf.type_of("blk.0.attn_q.weight") == "Q4_1"
    converted = load_file(str(prepared_model.model_dir / "model.safetensors"))
    pairs = [
        ("blk.3.attn_q.weight", llama_rows(9, 64), "model.layers.3.self_attn.q_proj.weight"),
        ("blk.3.attn_k.weight", llama_rows(3, 64), "model.layers.3.self_attn.k_proj.weight"),
        ("blk.3.ffn_down.weight", None, "model.layers.3.mlp.down_proj.weight"),
        ("token_embd.weight", None, "model.embed_tokens.weight"),
    ]
    for name, rows, hf_name in pairs:
        mine = gguf.linear(name, rows).dense_weight()
        reference = converted[hf_name].float()  # the folder is bf16: its rounding is the difference
        assert (mine - reference).abs().max() <= reference.abs().max() * 2**-7


def test_gguf_blocks_agree_with_full_precision(prepared_model, tokenizer):
    text = "The river begins high in the mountains, where snow melts each spring and runs down through valleys."
    ids = tokenizer(text)["input_ids"]
    folder = str(prepared_model.model_dir)
    full = load_decoder(folder, prepared_model.gguf_file, "none").prompt_logits([ids])[0]
    blocks = load_decoder(folder, prepared_model.gguf_file, "auto").prompt_logits([ids])[0]
    assert (full.argmax(-1) == blocks.argmax(-1)).float().mean() >= 0.9


def test_all_layers_in_one_native_call_equal_the_per_layer_calls_bit_for_bit(gguf_loaded):
    """decoder_layers (one thread team for the whole step) against the layer-by-layer native path."""
    decoder = gguf_loaded.decoder
    assert decoder._layer_table is not None  # the GGUF's blocks: the one-call path is the one served
    sequences = [list(range(100, 140)), [5, 9, 17, 3, 22, 40, 1, 8, 30], [60]]
    with torch.no_grad():  # scored as generated tokens: those are what the one call serves
        one_call = decoder.prompt_logits(sequences, as_prompt=False)
        per_layer = logits_without(decoder, "_layer_table", sequences, as_prompt=False)
    for a, b in zip(one_call, per_layer, strict=True):
        assert torch.equal(a, b)


needs_amx = pytest.mark.skipif(not PromptMatmul.available(), reason="no AMX on this CPU: prompts stay on the blocks")


@needs_amx
def test_prompt_tokens_in_bf16_agree_with_the_blocks_and_do_not_depend_on_their_neighbours(prepared_model, tokenizer):
    folder, gguf = str(prepared_model.model_dir), prepared_model.gguf_file
    bf16 = load_decoder(folder, gguf, prompt_matmul="bf16")
    assert (
        bf16.layers[0].prompt is not None
        and load_decoder(folder, gguf, prompt_matmul="blocks").layers[0].prompt is None
    )
    text = "The river begins high in the mountains, where snow melts each spring and runs down through valleys."
    ids = tokenizer(text)["input_ids"]
    sequences = [ids * 3, ids[:9], [60]]  # 3 x 20-odd rows: more than one slice of 32
    with torch.no_grad():
        prompt = bf16.prompt_logits(sequences)
        generated = bf16.prompt_logits(sequences, as_prompt=False)
        alone = [bf16.prompt_logits([s])[0] for s in sequences]
    assert all(torch.equal(a, b) for a, b in zip(prompt, alone, strict=True))
    assert not torch.equal(prompt[0], generated[0])  # the bf16 products did run
    agree = torch.cat([(a.argmax(-1) == b.argmax(-1)).float() for a, b in zip(prompt, generated, strict=True)])
    assert agree.mean() >= 0.9
