"""GGUF -> Hugging Face folder (safetensors, tokenizer, chat template).

transformers can read a GGUF (dequantizing to fp32) but refuses to `save_pretrained`
such a model, so we copy its weights into a fresh model built from the same config
(minus the quantization entry) and save that, in bf16 to halve the size. The result is
an ordinary transformers folder, also what TensorRT-LLM's checkpoint conversion takes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tqdm import tqdm

logger = logging.getLogger(__name__)

# Bump when the conversion's output changes, so caches made by older code are not reused.
CONVERTER_VERSION = 2

# The special tokens a GGUF names by id, and the tokenizer attribute each sets.
_SPECIAL_TOKENS = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "pad": "padding_token_id"}


class ConversionError(RuntimeError):
    """The converted tokenizer does not do what the GGUF's metadata says."""


def convert_gguf(gguf_path: Path, out_dir: Path, dtype: str = "bfloat16") -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    steps = tqdm(total=4, desc=f"converting {gguf_path.name}", unit="step")
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    metadata = _tokenizer_metadata(gguf_path)
    _match_metadata(tokenizer, metadata)
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
    check_tokenizer(AutoTokenizer.from_pretrained(out_dir), metadata)
    steps.update()
    steps.close()


def _tokenizer_metadata(gguf_path: Path) -> dict[str, object]:
    """The GGUF's `tokenizer.ggml.*` scalars: special token ids, add_bos_token, ..."""
    from gguf import GGUFReader

    prefix = "tokenizer.ggml."
    fields = GGUFReader(gguf_path).fields
    scalars = {k: f for k, f in fields.items() if k.startswith(prefix) and len(f.data) == 1 and len(f.types) == 1}
    return {key[len(prefix) :]: field.contents() for key, field in scalars.items()}


def _mismatches(tokenizer: Any, metadata: dict[str, object]) -> list[tuple[str, object, str]]:
    """Where the tokenizer does otherwise than the GGUF says: (what, the GGUF's value, message)."""
    found: list[tuple[str, object, str]] = []
    for name, key in _SPECIAL_TOKENS.items():
        token_id = metadata.get(key)
        if isinstance(token_id, int) and getattr(tokenizer, f"{name}_token_id") != token_id:
            actual = getattr(tokenizer, f"{name}_token")
            found.append(
                (name, token_id, f"the converted {name} token is {actual!r}, not token {token_id} as the GGUF says")
            )
    add_bos = metadata.get("add_bos_token")
    if isinstance(add_bos, bool) and _adds_bos(tokenizer) != add_bos:
        found.append(("add_bos", add_bos, f"the converted tokenizer {'omits' if add_bos else 'adds'} the BOS token"))
    if metadata.get("model") == "gpt2" and not _plain_byte_level(tokenizer):
        found.append(
            ("byte_level", True, "the GGUF's vocabulary is byte-level BPE; the converted tokenizer decodes otherwise")
        )
    return found


def _match_metadata(tokenizer: Any, metadata: dict[str, object]) -> None:
    """Set the special tokens and BOS behaviour from the GGUF where transformers read them
    otherwise (4.57 takes <|im_start|> as SmolLM2's end of turn and adds a BOS it has not)."""
    for what, wanted, _ in _mismatches(tokenizer, metadata):
        if what == "add_bos":
            tokenizer.add_bos_token = wanted
        elif what == "byte_level":
            # A byte-level BPE vocabulary (4.57 gives it SentencePiece's byte fallback and '▁'
            # decoders, which grammar libraries then read as a SentencePiece vocabulary).
            from tokenizers import decoders

            backend = tokenizer.backend_tokenizer
            backend.decoder = decoders.ByteLevel()
            backend.normalizer = None
            backend.model.byte_fallback = False
        else:
            setattr(tokenizer, f"{what}_token", tokenizer.convert_ids_to_tokens(wanted))


def check_tokenizer(tokenizer: Any, metadata: dict[str, object]) -> None:
    """Fail the conversion (nothing is cached) rather than serve a tokenizer that ends turns
    on the wrong token or puts a BOS before every prompt."""
    problems = _mismatches(tokenizer, metadata)
    if problems:
        raise ConversionError("; ".join(message for _, _, message in problems))


def _plain_byte_level(tokenizer: Any) -> bool:
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    decoder, model = spec.get("decoder") or {}, spec.get("model") or {}
    return decoder.get("type") == "ByteLevel" and not model.get("byte_fallback") and not spec.get("normalizer")


def _adds_bos(tokenizer: Any) -> bool:
    ids = tokenizer.encode("a")
    return bool(ids) and tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id
