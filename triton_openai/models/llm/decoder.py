"""The torch engine's own forward pass for LLaMA-style decoders, over a flat batch of tokens.

One forward runs every scheduled token of the step together, whatever request it belongs to:
one token of each decoding request and chunks of prompts being prefilled. The linear layers see
all tokens as one matrix; attention reads each token's own request from the paged KV cache
(triton_openai.models.llm.kv_cache), into which the step's keys and values are written first. Logits are computed
only for the tokens that are sampled.

Architectures: LLaMA, Mistral, Qwen2 (biases on q/k/v) and Qwen3 (per-head q/k norms), the
families whose layers are RMSNorm → q/k/v → rotary → grouped-query attention → o, then RMSNorm →
SiLU-gated MLP. q/k/v and gate/up run as one fused product each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from triton_openai.models.llm.kv_cache import PagedKVCache
from triton_openai.models.llm.native import LayerBlocks, LinearBlocks, NativeKernels
from triton_openai.models.llm.quant import Linear, PromptMatmul, Q4Linear, Q8Linear

logger = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")

# The modules a LoRA adapter may target, and where their outputs sit in the fused products.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class DecoderShape:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    rms_eps: float
    adaptable: bool = True  # whether LoRA adapters apply (triton_openai.models.llm.transformers_decoder: no)

    @property
    def q_size(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.kv_heads * self.head_dim

    def module_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of every adaptable module, by its Hugging Face path."""
        if not self.adaptable:
            return {}
        sizes = {
            "q_proj": (self.hidden, self.q_size),
            "k_proj": (self.hidden, self.kv_size),
            "v_proj": (self.hidden, self.kv_size),
            "o_proj": (self.q_size, self.hidden),
            "gate_proj": (self.hidden, self.intermediate),
            "up_proj": (self.hidden, self.intermediate),
            "down_proj": (self.intermediate, self.hidden),
        }
        shapes = {}
        for layer in range(self.layers):
            for name, shape in sizes.items():
                group = "mlp" if name in ("gate_proj", "up_proj", "down_proj") else "self_attn"
                shapes[f"model.layers.{layer}.{group}.{name}"] = shape
        return shapes


@dataclass
class PromptProducts:
    """A layer's four products for prompt tokens (triton_openai.models.llm.quant.PromptMatmul)."""

    qkv: PromptMatmul
    o: PromptMatmul
    gate_up: PromptMatmul
    down: PromptMatmul


@dataclass
class DecoderLayer:
    input_norm: torch.Tensor
    qkv: Linear
    o: Linear
    post_norm: torch.Tensor
    gate_up: Linear
    down: Linear
    q_norm: torch.Tensor | None = None  # Qwen3: RMSNorm over each head's dims
    k_norm: torch.Tensor | None = None
    prompt: PromptProducts | None = None  # the products of prompt tokens, where they have their own


@dataclass
class ForwardBatch:
    """The tokens of one step. Per token: its id, position, KV slot (block * block_size +
    offset), sequence (a row of `block_tables`) and how many keys it attends to (position + 1).
    `sample_index` lists the tokens whose logits are needed; `lora` adds adapters' deltas.
    `prompt_rows` / `generated_rows` index the tokens of prompts and the generated ones (None
    where there are none), for layers whose prompt tokens have products of their own."""

    token_ids: torch.Tensor
    positions: torch.Tensor
    slots: torch.Tensor
    seq_of: torch.Tensor
    len_of: torch.Tensor
    block_tables: torch.Tensor
    sample_index: torch.Tensor
    lora: object | None = None  # triton_openai.models.llm.lora.ActiveAdapters for this batch
    prompt_rows: torch.Tensor | None = None
    generated_rows: torch.Tensor | None = None


class Decoder:
    """A LLaMA-style decoder's weights and its forward pass (CPU kernels or PyTorch operators)."""

    def __init__(
        self,
        shape: DecoderShape,
        embed: Linear,
        layers: list[DecoderLayer],
        final_norm: torch.Tensor,
        lm_head: Linear,
        rotary: tuple[torch.Tensor, torch.Tensor],
        kernels: NativeKernels | None,
        device: torch.device,
    ) -> None:
        self.shape = shape
        self.embed = embed
        self.layers = layers
        self.final_norm = final_norm
        self.lm_head = lm_head
        self.cos, self.sin = rotary  # [positions, head_dim] float32
        self.kernels = kernels if device.type == "cpu" else None
        self.device = device
        self.scale = shape.head_dim**-0.5
        self._layer_table = layer_table(layers) if self.kernels is not None else None

    def forward(self, batch: ForwardBatch, cache: PagedKVCache) -> torch.Tensor:
        """Logits [len(batch.sample_index), vocab] (float32) of the sampled tokens."""
        if self.kernels is not None and cache.data.dtype == torch.float32:
            return self._forward_native(batch, cache)
        return self._forward_torch(batch, cache)

    def _forward_native(self, batch: ForwardBatch, cache: PagedKVCache) -> torch.Tensor:
        """The CPU kernels' path: each layer's norms, rotary embedding, cache writes and attention
        are a few native calls (triton_openai.models.llm.native), between its four matrix products."""
        s, kernels, lora = self.shape, self.kernels, batch.lora
        x = self._embed(batch.token_ids).contiguous()
        split = batch.prompt_rows is not None and self.layers[0].prompt is not None
        if lora is None and self._layer_table is not None and not split:  # every layer in one native call
            bits = self.layers[0].qkv.activation_bits
            kernels.decoder_layers(self._layer_table, x, s, self.cos, self.sin, batch, cache, self.scale, bits)
            final = x[batch.sample_index].contiguous()
            return self.lm_head(kernels.rms_norm(final, self.final_norm, s.rms_eps)).float()
        residual = None  # the last layer's MLP output, added into x by the next norm
        for index, layer in enumerate(self.layers):
            prompt = layer.prompt if split else None
            h = kernels.rms_norm(x, layer.input_norm, s.rms_eps, residual)
            qkv = _product(layer.qkv, prompt and prompt.qkv, h, batch)
            if lora is not None:
                lora.add_qkv(index, h, qkv, s.q_size, s.kv_size)
            keys, values = cache.layer(index)
            attended = kernels.attention_layer(
                qkv, s, layer.q_norm, layer.k_norm, self.cos, self.sin, batch, keys, values, self.scale
            ).view(-1, s.q_size)
            out = _product(layer.o, prompt and prompt.o, attended, batch)
            if lora is not None:
                lora.add(index, "o_proj", attended, out)
            h = kernels.rms_norm(x, layer.post_norm, s.rms_eps, out)
            gate_up = _product(layer.gate_up, prompt and prompt.gate_up, h, batch)
            if lora is not None:
                lora.add_gate_up(index, h, gate_up, s.intermediate)
            act = kernels.silu_mul(gate_up)
            residual = _product(layer.down, prompt and prompt.down, act, batch)
            if lora is not None:
                lora.add(index, "down_proj", act, residual)
        x = (x + residual)[batch.sample_index]
        return self.lm_head(kernels.rms_norm(x.contiguous(), self.final_norm, s.rms_eps)).float()

    def _forward_torch(self, batch: ForwardBatch, cache: PagedKVCache) -> torch.Tensor:
        """PyTorch operators throughout (GPUs, or CPUs without the kernels)."""
        s = self.shape
        x = self._embed(batch.token_ids)
        # In the activations' dtype, as transformers' rotary embedding returns them: float32
        # tables would make q and k float32 under bf16 weights (GPUs), and o_proj refuse them.
        cos, sin = self.cos[batch.positions].to(x.dtype), self.sin[batch.positions].to(x.dtype)
        lora = batch.lora
        for index, layer in enumerate(self.layers):
            h = F.rms_norm(x, (s.hidden,), layer.input_norm, s.rms_eps)
            qkv = layer.qkv(h)
            if lora is not None:
                lora.add_qkv(index, h, qkv, s.q_size, s.kv_size)
            q = qkv[:, : s.q_size].view(-1, s.heads, s.head_dim)
            k = qkv[:, s.q_size : s.q_size + s.kv_size].view(-1, s.kv_heads, s.head_dim)
            v = qkv[:, s.q_size + s.kv_size :].view(-1, s.kv_heads, s.head_dim)
            if layer.q_norm is not None:
                q = F.rms_norm(q, (s.head_dim,), layer.q_norm, s.rms_eps)
                k = F.rms_norm(k, (s.head_dim,), layer.k_norm, s.rms_eps)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            cache.write(index, batch.slots, k, v)
            keys, values = cache.layer(index)
            attended = paged_attention_torch(q, keys, values, batch, self.scale).view(-1, s.q_size)
            out = layer.o(attended)
            if lora is not None:
                lora.add(index, "o_proj", attended, out)
            x = x + out
            h = F.rms_norm(x, (s.hidden,), layer.post_norm, s.rms_eps)
            gate_up = layer.gate_up(h)
            if lora is not None:
                lora.add_gate_up(index, h, gate_up, s.intermediate)
            act = F.silu(gate_up[:, : s.intermediate]) * gate_up[:, s.intermediate :]
            down = layer.down(act)
            if lora is not None:
                lora.add(index, "down_proj", act, down)
            x = x + down
        x = F.rms_norm(x[batch.sample_index], (s.hidden,), self.final_norm, s.rms_eps)
        return self.lm_head(x).float()

    def prompt_logits(
        self, sequences: list[list[int]], lora: object | None = None, as_prompt: bool = True
    ) -> list[torch.Tensor]:
        return prompt_logits(self, sequences, lora, as_prompt=as_prompt)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        if isinstance(self.embed, Q4Linear | Q8Linear):  # a GGUF's token_embd in blocks
            return self.embed.rows(ids)
        return self.embed.weight[ids].float() if self.device.type == "cpu" else self.embed.weight[ids]


def _product(linear: Linear, prompt: PromptMatmul | None, x: torch.Tensor, batch: ForwardBatch) -> torch.Tensor:
    """x times a layer's weights: prompt tokens' rows by `prompt` where given, the rest by `linear`."""
    if prompt is None:
        return linear(x)
    if batch.generated_rows is None:
        return prompt(x)
    out = torch.empty((len(x), linear.out_features), dtype=torch.float32)
    out[batch.generated_rows] = linear(x[batch.generated_rows])
    out[batch.prompt_rows] = prompt(x[batch.prompt_rows])
    return out


def layer_table(layers: list[DecoderLayer]):
    """The layers as the native decoder_layers call reads them (pointers into their tensors,
    which the layers keep alive), or None unless every linear layer is in blocks."""

    def pointer(tensor: torch.Tensor | None) -> int | None:
        return None if tensor is None else tensor.data_ptr()

    def blocks(linear: Linear) -> LinearBlocks | None:
        if isinstance(linear, Q4Linear):
            minimums = (pointer(linear.m), pointer(linear.m_by_eights))
        elif isinstance(linear, Q8Linear):
            minimums = (None, None)
        else:
            return None
        return LinearBlocks(
            int(isinstance(linear, Q4Linear)), linear.out_features, linear.in_features, pointer(linear.qs),
            pointer(linear.d), minimums[0], pointer(linear.d_by_eights), minimums[1], pointer(linear.bias),
        )  # fmt: skip

    rows = []
    for layer in layers:
        linears = (layer.qkv, layer.o, layer.gate_up, layer.down)
        parts = [blocks(linear) for linear in linears]
        if any(part is None for part in parts) or len({linear.activation_bits for linear in linears}) != 1:
            return None
        norms = (layer.input_norm, layer.post_norm, layer.q_norm, layer.k_norm)
        rows.append(LayerBlocks(*[pointer(n) for n in norms], *parts))
    return (LayerBlocks * len(rows))(*rows) if rows else None


def prompt_logits(
    decoder, sequences: list[list[int]], lora: object | None = None, block_size: int = 16, as_prompt: bool = True
):
    """Logits [len(ids), vocab] at every position of each token sequence, in one forward of
    `decoder` over a cache of their own (for scoring: tests, perplexity); the tokens count as
    prompt tokens, or with `as_prompt` False as generated ones (the products they get differ
    where the layers have products for prompts)."""
    shape, device = decoder.shape, decoder.device
    counts = [-(-len(ids) // block_size) for ids in sequences]
    cache = PagedKVCache(shape.layers, shape.kv_heads, shape.head_dim, sum(counts), block_size, device=device)
    tables = torch.zeros((len(sequences), max(counts)), dtype=torch.int32)
    first = 0
    for row, count in enumerate(counts):
        tables[row, :count] = torch.arange(first, first + count)
        first += count
    positions = torch.cat([torch.arange(len(ids)) for ids in sequences])
    seq_of = torch.cat([torch.full((len(ids),), row, dtype=torch.int32) for row, ids in enumerate(sequences)])
    slots = tables[seq_of.long(), positions // block_size].long() * block_size + positions % block_size
    batch = ForwardBatch(
        token_ids=torch.tensor([t for ids in sequences for t in ids], device=device),
        positions=positions.to(device),
        slots=slots.to(device),
        seq_of=seq_of.to(device),
        len_of=(positions + 1).to(torch.int32).to(device),
        block_tables=tables.to(device),
        sample_index=torch.arange(len(positions), device=device),
        lora=lora,
        prompt_rows=torch.arange(len(positions), device=device) if as_prompt else None,
        generated_rows=None if as_prompt else torch.arange(len(positions), device=device),
    )
    return list(decoder.forward(batch, cache).split([len(ids) for ids in sequences]))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding in Hugging Face's layout (the two halves of each head rotate together)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1)


def paged_attention_torch(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    batch: ForwardBatch,
    scale: float,
    window: int | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """The paged attention in PyTorch operators: per sequence, its blocks gathered and one
    attention over its query tokens (the CPU kernel's reference, and the path on GPUs). A query
    sees its sequence's first len_of keys, the last `window` of them with a sliding window; scores
    are soft-capped at `softcap` (softcap * tanh(score / softcap)) when given."""
    tokens, heads, dim = q.shape
    block, kv_heads = keys.shape[1], keys.shape[2]
    out = torch.empty_like(q)
    seq_of = batch.seq_of.tolist()
    len_of = batch.len_of.tolist()
    start = 0
    while start < tokens:
        end = start
        while end < tokens and seq_of[end] == seq_of[start]:
            end += 1
        length = max(len_of[start:end])
        count = (length + block - 1) // block
        table = batch.block_tables[seq_of[start], :count].long()
        k = keys[table].reshape(-1, kv_heads, dim)[:length]
        v = values[table].reshape(-1, kv_heads, dim)[:length]
        limits = batch.len_of[start:end].to(q.device)
        columns = torch.arange(length, device=q.device).unsqueeze(0)
        mask = columns < limits.unsqueeze(1)  # [queries, keys]
        if window:
            mask &= columns >= (limits - window).unsqueeze(1)
        query = q[start:end].transpose(0, 1)  # [heads, queries, dim]
        k, v = k.transpose(0, 1).to(q.dtype), v.transpose(0, 1).to(q.dtype)  # [kv heads, keys, dim]
        if softcap:
            k, v = k.repeat_interleave(heads // kv_heads, 0), v.repeat_interleave(heads // kv_heads, 0)
            scores = softcap * torch.tanh(query @ k.transpose(1, 2) * scale / softcap)
            attended = torch.softmax(scores.masked_fill(~mask, float("-inf")).float(), -1).to(q.dtype) @ v
        else:
            attended = F.scaled_dot_product_attention(
                query.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), attn_mask=mask, scale=scale,
                enable_gqa=heads != kv_heads,
            )[0]  # fmt: skip
        out[start:end] = attended.transpose(0, 1)
        start = end
    return out
