"""Any decoder-only model transformers loads, run by the engine over its paged KV cache.

For architectures triton_openai.models.llm.decoder does not implement (Gemma, Phi, Granite, ...). The model's own
modules run unchanged; its attention is ours: a function registered with transformers'
AttentionInterface receives each layer's queries, keys and values (rotary embedding applied),
writes the keys and values into the paged cache and attends over each token's own request
(triton_openai.models.llm.decoder.paged_attention_torch, with the layer's sliding window and logit soft-capping).
The step's tokens are one flat row, as for triton_openai.models.llm.decoder; a placeholder 4-D mask tells
transformers not to build one. LoRA adapters need triton_openai.models.llm.decoder's architectures.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import torch

from triton_openai.models.llm.decoder import DecoderShape, ForwardBatch, paged_attention_torch, prompt_logits
from triton_openai.models.llm.kv_cache import PagedKVCache

logger = logging.getLogger(__name__)

ATTENTION = "triton_openai_paged"
_step = threading.local()  # the batch and cache of the forward pass under way on this thread


def _attention(module: Any, query, key, value, attention_mask, scaling=None, sliding_window=None, softcap=None, **_):
    batch, cache = _step.batch, _step.cache
    q, k, v = query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1)  # [tokens, heads, dim]
    cache.write(module.layer_idx, batch.slots, k, v)
    keys, values = cache.layer(module.layer_idx)
    scale = scaling if scaling is not None else q.shape[-1] ** -0.5
    out = paged_attention_torch(q, keys, values, batch, scale, window=sliding_window, softcap=softcap)
    return out.unsqueeze(0), None


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION, _attention)


class TransformersDecoder:
    """The engine's decoder interface (shape, forward, prompt_logits) over a transformers model."""

    def __init__(self, model: Any, device: torch.device) -> None:
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        heads = config.num_attention_heads
        self.shape = DecoderShape(
            layers=config.num_hidden_layers,
            hidden=config.hidden_size,
            heads=heads,
            kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
            intermediate=getattr(config, "intermediate_size", 0) or 0,
            vocab=config.vocab_size,
            rms_eps=0.0,
            adaptable=False,
        )
        self.model = model
        self.device = device
        self._mask = torch.ones((1, 1, 1, 1), dtype=torch.bool, device=device)

    @classmethod
    def load(cls, model_dir: str, device: torch.device, dtype: torch.dtype) -> TransformersDecoder:
        from transformers import AutoModelForCausalLM

        _register()
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation=ATTENTION)
        logger.info("decoder for %s: transformers' own modules (%s)", model.config.model_type, model_dir)
        return cls(model.to(device).eval(), device)

    def forward(self, batch: ForwardBatch, cache: PagedKVCache) -> torch.Tensor:
        _step.batch, _step.cache = batch, cache
        try:
            out = self.model(
                input_ids=batch.token_ids.unsqueeze(0),
                position_ids=batch.positions.unsqueeze(0),
                attention_mask=self._mask,
                use_cache=False,
                logits_to_keep=batch.sample_index,
            )
        finally:
            _step.batch = _step.cache = None
        return out.logits[0].float()

    def prompt_logits(
        self, sequences: list[list[int]], lora: object | None = None, as_prompt: bool = True
    ) -> list[torch.Tensor]:
        return prompt_logits(self, sequences, lora, as_prompt=as_prompt)
