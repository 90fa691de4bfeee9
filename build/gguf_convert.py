"""GGUF -> Hugging Face folder (safetensors, tokenizer, chat template).

transformers can read a GGUF (dequantizing to fp32) but refuses to `save_pretrained`
such a model, so we copy its weights into a fresh model built from the same config
(minus the quantization entry) and save that, in bf16 to halve the size. The result is
an ordinary transformers folder, also what TensorRT-LLM's checkpoint conversion takes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

logger = logging.getLogger(__name__)

# Bump when the conversion's output changes, so caches made by older code are not reused.
CONVERTER_VERSION = 1


def convert_gguf(gguf_path: Path, out_dir: Path, dtype: str = "bfloat16") -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    steps = tqdm(total=4, desc=f"converting {gguf_path.name}", unit="step")
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    steps.update()
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    steps.update()
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    steps.update()
    fresh.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    steps.update()
    steps.close()
