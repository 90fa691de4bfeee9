"""Load a model for the torch engine: its decoder, tokenizer and limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from triton_openai.models.llm.decoder import Decoder
from triton_openai.models.llm.decoder_loader import load_decoder

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    decoder: Decoder
    tokenizer: Any
    device: torch.device
    max_model_len: int
    eos_token_ids: frozenset[int]
    vocab_size: int
    dtype: torch.dtype


def resolve_device(device: str) -> torch.device:
    if device in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """fp32 on CPU (bf16 matmuls are slow without AMX), bf16 on GPUs that have it."""
    if dtype in ("", "auto"):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def load_model(
    model_dir: str,
    device: str = "auto",
    dtype: str = "auto",
    max_model_len: int = 0,
    weights_file: str = "",
    quantization: str = "auto",
    prompt_matmul: str = "auto",
) -> LoadedModel:
    """`weights_file`: the GGUF the folder was converted from, served from its own blocks
    (triton_openai.models.llm.decoder_loader) unless `quantization` is "none"; `prompt_matmul`:
    how prompt tokens are multiplied where the weights are in blocks (EngineConfig.prompt_matmul)."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    window = int(getattr(config, "max_position_embeddings", 0) or 0) or 2048
    limit = min(max_model_len, window) if max_model_len > 0 else window
    decoder = load_decoder(model_dir, weights_file, quantization, target, torch_dtype, limit, prompt_matmul)
    logger.info("loaded %s on %s, context %d", model_dir, target, limit)
    return LoadedModel(
        decoder=decoder,
        tokenizer=tokenizer,
        device=target,
        max_model_len=limit,
        eos_token_ids=eos_token_ids(model_dir, tokenizer, GenerationConfig),
        vocab_size=int(config.vocab_size),
        dtype=torch_dtype,
    )


def eos_token_ids(model_dir: str, tokenizer: Any, generation_config_cls: Any) -> frozenset[int]:
    ids: set[int] = set()
    try:
        eos = generation_config_cls.from_pretrained(model_dir).eos_token_id
    except OSError:
        eos = None
    if isinstance(eos, int):
        ids.add(eos)
    elif eos:
        ids.update(int(i) for i in eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)
