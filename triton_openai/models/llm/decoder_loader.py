"""Build the decoder (triton_openai.models.llm.decoder) from a model folder, or from the GGUF file it came from.

Weights, by `quantization`:
- "auto": a GGUF source is served from its own blocks (Q4_0/Q4_1/Q8_0 stay quantized: the file's
  precision, nothing lost against it); a safetensors folder keeps full precision.
- "none": full precision from the folder's safetensors (a GGUF source was converted into it).
- "q8", "q4": a safetensors folder quantized to Q8_0 or Q4_1 blocks at load (round to nearest,
  as llama.cpp's quantizer), as an opt-in.
Where the layers are in blocks on a CPU, `prompt_matmul` "bf16" (or "auto" on a CPU with AMX, when
the copy is small beside the machine's memory) gives prompt tokens products of their own over a bf16
copy of the weights (quant.PromptMatmul).
Full precision is float32 on CPU and bfloat16 (or float16) on GPUs. Blocks need the engine's CPU
kernels; on a GPU, or without a C compiler, they are dequantized once to dense weights. Other
architectures than the decoder's (models.llm.decoder) run on transformers' own modules
(models.llm.transformers_decoder), at full precision.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from triton_openai.models.llm import native
from triton_openai.models.llm.decoder import (
    SUPPORTED_MODEL_TYPES,
    Decoder,
    DecoderLayer,
    DecoderShape,
    PromptProducts,
)
from triton_openai.models.llm.gguf_weights import GGUFWeights, llama_rows
from triton_openai.models.llm.quant import (
    DenseLinear,
    Linear,
    PromptMatmul,
    Q4Linear,
    Q8Linear,
    densify,
    fuse,
    quantize_q4_1,
    quantize_q8_0,
)

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("auto", "none", "q8", "q4")
PROMPT_MATMULS = ("auto", "bf16", "blocks")
SUPPORTED = ", ".join(SUPPORTED_MODEL_TYPES)


def decoder_shape(config) -> DecoderShape:
    heads = config.num_attention_heads
    return DecoderShape(
        layers=config.num_hidden_layers,
        hidden=config.hidden_size,
        heads=heads,
        kv_heads=getattr(config, "num_key_value_heads", None) or heads,
        head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
        intermediate=config.intermediate_size,
        vocab=config.vocab_size,
        rms_eps=config.rms_norm_eps,
    )


def load_decoder(
    model_dir: str,
    weights_file: str = "",
    quantization: str = "auto",
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    max_positions: int = 0,
    prompt_matmul: str = "auto",
) -> Decoder:
    from transformers import AutoConfig

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {quantization!r}")
    if prompt_matmul not in PROMPT_MATMULS:
        raise ValueError(f"prompt_matmul must be one of {', '.join(PROMPT_MATMULS)}; got {prompt_matmul!r}")
    device = device or torch.device("cpu")
    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        if quantization in ("q8", "q4"):
            logger.warning(
                "%s models are served at full precision (%s needs %s)", config.model_type, quantization, SUPPORTED
            )
        from triton_openai.models.llm.transformers_decoder import TransformersDecoder

        return TransformersDecoder.load(model_dir, device, dtype if device.type == "cuda" else torch.float32)
    shape = decoder_shape(config)
    kernels = native.kernels() if device.type == "cpu" else None
    if weights_file and quantization == "auto":
        parts = _gguf_parts(GGUFWeights(weights_file, kernels), shape, config)
        source = f"{Path(weights_file).name} (its own blocks)"
    else:
        parts = _safetensors_parts(Path(model_dir), shape, config, dtype if device.type == "cuda" else torch.float32)
        if quantization in ("q8", "q4") and kernels is not None:
            parts = _quantized(parts, kernels, quantization)
        at_load = {"q8": "Q8_0 at load", "q4": "Q4_1 at load"}
        source = f"{model_dir} ({at_load.get(quantization, 'full precision')})"
    embed, layers, final_norm, lm_head = parts
    if kernels is None:  # blocks need the CPU kernels: dense weights instead
        dense = torch.float32 if device.type == "cpu" else dtype
        layers = [_densified(layer, dense, device) for layer in layers]
        embed, lm_head = densify(embed, dense, device), densify(lm_head, dense, device)
    else:
        _add_prompt_products(layers, prompt_matmul)
    logger.info("decoder for %s: %d layers from %s on %s", config.model_type, shape.layers, source, device)
    positions = max_positions or int(getattr(config, "max_position_embeddings", 0) or 4096)
    rotary = _rotary(config, positions, device)
    return Decoder(shape, embed, layers, final_norm.to(device), lm_head, rotary, kernels, device)


def _gguf_parts(gguf: GGUFWeights, shape: DecoderShape, config) -> tuple:
    # llama.cpp permutes LLaMA's q/k rows (its "llama" architecture); Qwen GGUFs are not permuted.
    permuted = gguf.architecture == "llama"
    q_rows = llama_rows(shape.heads, shape.head_dim) if permuted else None
    k_rows = llama_rows(shape.kv_heads, shape.head_dim) if permuted else None
    layers = []
    for i in range(shape.layers):
        p = f"blk.{i}."
        qkv = fuse(
            [
                gguf.linear(p + "attn_q.weight", q_rows, p + "attn_q.bias"),
                gguf.linear(p + "attn_k.weight", k_rows, p + "attn_k.bias"),
                gguf.linear(p + "attn_v.weight", None, p + "attn_v.bias"),
            ]
        )
        layers.append(
            DecoderLayer(
                input_norm=gguf.vector(p + "attn_norm.weight"),
                qkv=qkv,
                o=gguf.linear(p + "attn_output.weight"),
                post_norm=gguf.vector(p + "ffn_norm.weight"),
                gate_up=fuse([gguf.linear(p + "ffn_gate.weight"), gguf.linear(p + "ffn_up.weight")]),
                down=gguf.linear(p + "ffn_down.weight"),
                q_norm=gguf.vector(p + "attn_q_norm.weight") if p + "attn_q_norm.weight" in gguf else None,
                k_norm=gguf.vector(p + "attn_k_norm.weight") if p + "attn_k_norm.weight" in gguf else None,
            )
        )
    embed = gguf.linear("token_embd.weight")
    lm_head = gguf.linear("output.weight") if "output.weight" in gguf else embed
    return embed, layers, gguf.vector("output_norm.weight"), lm_head


def _safetensors_parts(folder: Path, shape: DecoderShape, config, dtype: torch.dtype) -> tuple:
    tensors = _read_safetensors(folder)

    def weight(name: str) -> torch.Tensor:
        return tensors[name].to(dtype)

    def norm(name: str) -> torch.Tensor | None:
        return tensors[name].float() if name in tensors else None

    def linear(*modules: str) -> Linear:
        dense = []
        for module in modules:
            bias = tensors.get(module + ".bias")
            dense.append(DenseLinear(weight(module + ".weight"), None if bias is None else bias.to(dtype)))
        return fuse(dense)

    layers = []
    for i in range(shape.layers):
        p = f"model.layers.{i}."
        layers.append(
            DecoderLayer(
                input_norm=weight(p + "input_layernorm.weight").float(),
                qkv=linear(p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"),
                o=linear(p + "self_attn.o_proj"),
                post_norm=weight(p + "post_attention_layernorm.weight").float(),
                gate_up=linear(p + "mlp.gate_proj", p + "mlp.up_proj"),
                down=linear(p + "mlp.down_proj"),
                q_norm=norm(p + "self_attn.q_norm.weight"),
                k_norm=norm(p + "self_attn.k_norm.weight"),
            )
        )
    embed = DenseLinear(weight("model.embed_tokens.weight"))
    tied = getattr(config, "tie_word_embeddings", False) or "lm_head.weight" not in tensors
    lm_head = embed if tied else DenseLinear(weight("lm_head.weight"))
    return embed, layers, weight("model.norm.weight").float(), lm_head


def _read_safetensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    index = folder / "model.safetensors.index.json"
    files = ["model.safetensors"]
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    tensors: dict[str, torch.Tensor] = {}
    for name in files:
        tensors.update(load_file(str(folder / name)))
    return tensors


def _quantized(parts: tuple, kernels: native.NativeKernels, kind: str) -> tuple:
    """The layers' linear weights in blocks (embeddings and the output head stay as they are)."""

    def blocks(layer: Linear) -> Linear:
        if layer.in_features % 32:
            return layer
        if kind == "q8":
            return Q8Linear(*quantize_q8_0(layer.dense_weight()), bias=layer.bias, kernels=kernels)
        return Q4Linear(*quantize_q4_1(layer.dense_weight()), bias=layer.bias, kernels=kernels)

    embed, layers, final_norm, lm_head = parts
    for layer in layers:
        layer.qkv, layer.o = blocks(layer.qkv), blocks(layer.o)
        layer.gate_up, layer.down = blocks(layer.gate_up), blocks(layer.down)
    return embed, layers, final_norm, lm_head


def _add_prompt_products(layers: list[DecoderLayer], prompt_matmul: str) -> None:
    """bf16 copies of the layers' weights in blocks, for prompt tokens (all layers or none): with
    "bf16", or with "auto" on a CPU with AMX where the copy takes at most an eighth of the memory."""
    linears = [linear for x in layers for linear in (x.qkv, x.o, x.gate_up, x.down)]
    if prompt_matmul == "blocks" or not all(isinstance(linear, Q4Linear | Q8Linear) for linear in linears):
        return
    size = 2 * sum(linear.in_features * linear.out_features for linear in linears)
    if prompt_matmul == "auto" and not (PromptMatmul.available() and size <= _memory_bytes() // 8):
        return
    for layer in layers:
        layer.prompt = PromptProducts(*(PromptMatmul(x) for x in (layer.qkv, layer.o, layer.gate_up, layer.down)))
    logger.info("prompt tokens are multiplied in bf16 (a copy of the weights: %d MiB)", size >> 20)


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _densified(layer: DecoderLayer, dtype: torch.dtype, device: torch.device) -> DecoderLayer:
    layer.qkv, layer.o = densify(layer.qkv, dtype, device), densify(layer.o, dtype, device)
    layer.gate_up, layer.down = densify(layer.gate_up, dtype, device), densify(layer.down, dtype, device)
    for name in ("input_norm", "post_norm", "q_norm", "k_norm"):
        value = getattr(layer, name)
        if value is not None:
            setattr(layer, name, value.to(device))
    return layer


def _rotary(config, positions: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [positions, head_dim] of the model's own rotary embedding (its scaling included)."""
    import importlib

    module = importlib.import_module(f"transformers.models.{config.model_type}.modeling_{config.model_type}")
    rotary_class = next(getattr(module, n) for n in dir(module) if n.endswith("RotaryEmbedding"))
    rotary = rotary_class(config=config)
    ids = torch.arange(positions).unsqueeze(0)
    cos, sin = rotary(torch.zeros(1, dtype=torch.float32), ids)
    return cos[0].float().to(device), sin[0].float().to(device)
